"""`feeds init DIR`: a new series that validates, serves at once, passes its
own schema, and keeps build output and lock files out of git."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from feeds.commands import cli, starter
from feeds.data.loader import load_schedule

from helpers import NOW, ROOT, clean_environment, fetch, running


@pytest.fixture
def fixed_now(monkeypatch):
    monkeypatch.setattr(cli, "utc_now", lambda: NOW)
    return NOW


def init(folder: Path, *options: str) -> int:
    return cli.main(["init", str(folder), *options])


def test_init_writes_a_series_that_validates(tmp_path, fixed_now, capsys, monkeypatch):
    folder = tmp_path / "ml-reading-group"
    assert init(folder, "--timezone", "Europe/Berlin", "--contact", "group@example.org") == 0
    out = capsys.readouterr().out
    assert "feeds serve" in out
    for name in ["data/talks.yaml", "data/talks.revisions.tsv", "data/talks.schema.json",
                 ".gitignore", "README.md", "requirements.txt", ".github/workflows/publish.yml"]:
        assert (folder / name).is_file(), name
    monkeypatch.chdir(folder)
    assert cli.main(["validate"]) == 0  # the default data file, from inside the folder
    assert "OK, 1 talks; next:" in capsys.readouterr().out
    schedule = load_schedule(folder / "data/talks.yaml")
    assert schedule.series.title == "Ml reading group"
    assert schedule.series.contact == "group@example.org"
    assert schedule.series.timezone.key == "Europe/Berlin"
    (talk,) = schedule.talks
    assert talk.start > NOW and talk.start.weekday() == 0  # an upcoming Monday, 17:00
    assert talk.start.hour == 17


def test_the_data_file_is_commented_and_names_its_schema(tmp_path, fixed_now):
    folder = tmp_path / "series"
    assert init(folder) == 0
    lines = (folder / "data/talks.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# yaml-language-server: $schema=talks.schema.json"
    assert sum(line.lstrip().startswith("#") for line in lines) >= 10
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile",
                             str(folder / "data/talks.schema.json"), str(folder / "data/talks.yaml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


def test_a_title_with_yaml_syntax_survives(tmp_path, fixed_now):
    title = 'Reading group: "ML" #1 — Zürich'
    assert init(tmp_path / "x", "--title", title) == 0
    assert load_schedule(tmp_path / "x/data/talks.yaml").series.title == title


def test_the_workflow_is_the_repositorys_own(tmp_path, fixed_now):
    assert init(tmp_path / "x") == 0
    shipped = (tmp_path / "x" / starter.WORKFLOW).read_bytes()
    assert shipped == (ROOT / starter.WORKFLOW).read_bytes()


def test_git_keeps_the_sources_and_ignores_the_rest(tmp_path, fixed_now):
    folder = tmp_path / "x"
    folder.mkdir()
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    assert init(folder) == 0  # a folder holding only .git counts as empty
    assert cli.main(["build", str(folder / "site"), "--data", str(folder / "data/talks.yaml"),
                     "--site-url", "https://talks.example.org"]) == 0
    (folder / ".venv").mkdir()
    (folder / ".venv" / "x").write_text("")
    data = folder / "data/talks.yaml"  # an organiser's edit takes the data file's lock
    assert cli.main(["cancel", load_schedule(data).talks[0].id, "--data", str(data)]) == 0
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=folder,
                            capture_output=True, text=True, check=True).stdout
    listed = sorted(line[3:] for line in status.splitlines())
    assert listed == sorted([".github/workflows/publish.yml", ".gitignore", "README.md",
                             "data/talks.revisions.tsv", "data/talks.schema.json",
                             "data/talks.yaml", "requirements.txt"])


def test_init_refuses_a_folder_with_files(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert init(tmp_path) == 1
    assert "not empty (notes.txt)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_bad_option_is_named_and_nothing_is_written(tmp_path, capsys):
    assert init(tmp_path / "x", "--timezone", "Mars/Olympus") == 1
    err = capsys.readouterr().err
    assert "'Mars/Olympus' is not a known time zone" in err
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_serve_shows_the_new_series_at_once(tmp_path):
    folder = tmp_path / "new-series"
    env = clean_environment()
    subprocess.run([sys.executable, "-m", "feeds", "init", str(folder), "--title", "Brand New Talks"],
                   check=True, capture_output=True, env=env, timeout=60)
    with running([sys.executable, "-m", "feeds", "serve", "--port", "0"], folder, env,
                 r"Serving .* at (http://\S+?)/ ") as (match, _proc, _output):
        page = fetch(match.group(1) + "/").decode()
    assert "Brand New Talks" in page
    assert "An example talk, to replace with your first one" in page


class _Installed:
    """A distribution whose PEP 610 direct_url.json says where it came from."""

    version = "1.0.0"

    def __init__(self, direct_url: str | None):
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return self.direct_url if name == "direct_url.json" else None


def project() -> dict:
    """pyproject.toml's [project] table."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def requirement_lines(text: str) -> list[str]:
    return [row for row in text.splitlines() if row.strip() and not row.startswith("#")]


@pytest.mark.parametrize("direct_url, line", [
    ('{"url": "https://github.com/example/feeds", "vcs_info": {"vcs": "git", "commit_id": "abc123"}}',
     "feeds @ git+https://github.com/example/feeds@abc123"),
    ('{"url": "https://example.org/feeds-0.1.0.tar.gz", "archive_info": {}}',
     "feeds @ https://example.org/feeds-0.1.0.tar.gz"),
])
def test_requirements_name_where_feeds_came_from(monkeypatch, direct_url, line):
    monkeypatch.setattr(starter.metadata, "distribution", lambda name: _Installed(direct_url))
    assert requirement_lines(starter.requirements()) == [line]


@pytest.mark.parametrize("direct_url", ['{"url": "file:///home/me/feeds", "dir_info": {}}',
                                        '{"url": "file:///w/feeds", "dir_info": {"editable": true}}',
                                        None])  # None: a release from an index
def test_requirements_from_elsewhere_name_this_releases_tag_in_the_repository(monkeypatch, direct_url):
    monkeypatch.setattr(starter.metadata, "distribution", lambda name: _Installed(direct_url))
    repository = project()["urls"]["Repository"]
    assert repository.startswith("https://")
    assert requirement_lines(starter.requirements()) == [f"feeds @ git+{repository}@v1.0.0"]


def test_requirements_of_a_copy_never_installed_say_what_to_replace(monkeypatch):
    def missing(name: str):
        raise starter.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(starter.metadata, "distribution", missing)
    monkeypatch.setattr(starter.metadata, "metadata", missing)
    text = starter.requirements()
    assert "local folder" in text and "replace the next line" in text


def test_init_pins_the_installed_release(tmp_path, fixed_now, capsys):
    """Through the real metadata of this test environment's install."""
    assert init(tmp_path / "x") == 0
    assert "warning" not in capsys.readouterr().err
    text = (tmp_path / "x" / starter.REQUIREMENTS).read_text(encoding="utf-8")
    assert requirement_lines(text) == [f"feeds @ git+{project()['urls']['Repository']}@v"
                                       f"{project()['version']}"]


def test_version_prints_the_release(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"feeds {project()['version']}\n"
    assert project()["version"] == "1.0.0"
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "\n## [1.0.0] - " in changelog
