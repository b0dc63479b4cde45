"""The README's quick start, as a newcomer runs it: in a fresh copy of the
repository, with a virtual environment made from Debian's own
/usr/bin/python3 where it exists (PEP 668 forbids installing into it). The
second command, the test command, is what .ci/run runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import lxml.html
import pytest

from helpers import ROOT, clean_environment, fetch, running

SYSTEM_PYTHON = Path("/usr/bin/python3")


def quick_start() -> list[str]:
    """The commands of the README's quick start, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the quick start has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def fresh_copy(target: Path) -> None:
    """What a clone of this checkout holds: its tracked and new files, nothing ignored."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_the_quick_start_has_two_commands_and_ci_runs_the_second():
    serve, test = quick_start()
    assert "python3 -m venv .venv" in serve  # never pip into the system's Python
    ci = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert test in ci
    assert ".venv" in (ROOT / "scripts/test").read_text()


@pytest.mark.slow
def test_the_serve_command_works_in_a_fresh_clone(tmp_path):
    serve, _test = quick_start()
    clone = tmp_path / "feeds"
    fresh_copy(clone)
    git = clean_environment(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
                            GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        subprocess.run(command, cwd=clone, env=git, check=True)
    env = clean_environment()
    env.pop("PYTHONPATH", None)  # the clone's own install, not this checkout
    env.pop("VIRTUAL_ENV", None)
    if SYSTEM_PYTHON.exists():  # `python3` is Debian's own, as on a fresh machine
        env["PATH"] = os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin"])
        env.pop("PYENV_VERSION", None)
    # The README's command; --port 0 (a free port) keeps clear of other servers.
    with running(["bash", "-c", serve + " --port 0"], clone, env, r"Serving .* at (http://\S+?)/ ",
                 timeout=300) as (match, _proc, output):
        address = match.group(1)
        page = fetch(address + "/")
        tree = lxml.html.fromstring(page)
        assert "Efficient ML Reading Group" in tree.findtext(".//title")
        subscribe = [href for href in tree.xpath("//a/@href") if href.endswith("/calendar.ics")]
        host = address.split("://", 1)[1]  # http:// and webcal:// alike
        assert subscribe and all(href.split("://", 1)[1].startswith(host + "/") for href in subscribe)
    made_with = (clone / ".venv" / "pyvenv.cfg").read_text()
    if SYSTEM_PYTHON.exists():
        assert "home = /usr/bin" in made_with, made_with
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", f"the quick start left files git does not ignore:\n{status}{output[-5:]}"


def test_the_test_command_names_missing_debian_packages_when_not_root(tmp_path):
    """Run as a user who cannot install: scripts/test stops at once and says
    what to install (here `id` and `dpkg-query` are stand-ins that make the
    machine look like a non-root Debian without newsboat)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake / "dpkg-query").write_text(
        '#!/bin/sh\nfor last; do :; done\n[ "$last" = newsboat ] && exit 1\necho "install ok installed"\n')
    for script in fake.iterdir():
        script.chmod(0o755)
    env = clean_environment(PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(["bash", str(ROOT / "scripts/test")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "the tests need these Debian packages: newsboat" in result.stderr
    assert "sudo apt-get install -y newsboat" in result.stderr
    assert "pip" not in result.stdout + result.stderr  # it stopped before installing anything
