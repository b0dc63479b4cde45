"""The README's quick start, as a newcomer runs it: in a fresh copy of the
repository, with a virtual environment made from Debian's own
/usr/bin/python3 where it exists (PEP 668 forbids installing into it). The
second command, the test command, is what .ci/run runs."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
import time
import urllib.error

import icalendar
import lxml.html
import pytest

from feeds.data.loader import load_schedule

from helpers import (
    ROOT,
    SEED_DATA,
    SYSTEM_PYTHON,
    clean_environment,
    fetch,
    free_port,
    fresh_copy,
    running,
    talk_id_of,
    talk_uid,
)


def quick_start() -> list[str]:
    """The commands of the README's quick start, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the quick start has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


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


def fetch_when_ready(url: str, timeout: float = 60) -> bytes:
    """`url`'s body once it answers 200 (a first start answers 503 until the
    first build is published)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fetch(url)
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


@pytest.mark.slow
def test_the_production_deploy_runs_from_a_plain_install(tmp_path):
    """README, "Deploying → gunicorn": in a fresh clone and a venv holding only
    `pip install .` (no test extras, which would bring what it forgot),
    gunicorn with the shipped gunicorn.conf.py serves the site, and the
    organiser's commands work in that same venv."""
    clone = tmp_path / "feeds"
    fresh_copy(clone)
    env = clean_environment()
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYENV_VERSION"):
        env.pop(name, None)
    venv = tmp_path / "venv"
    python = str(SYSTEM_PYTHON) if SYSTEM_PYTHON.exists() else sys.executable
    subprocess.run([python, "-m", "venv", str(venv)], env=env, check=True, timeout=300)
    install = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "."],
                             cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    extras = subprocess.run([str(venv / "bin/python"), "-c", "import pytest"], env=env,
                            capture_output=True, timeout=60)
    assert extras.returncode != 0  # nothing from the test extra came along
    seed = load_schedule(SEED_DATA)
    # The README's command; one worker on a free loopback port keeps the test light.
    port = free_port()
    env_server = {**env, "FEEDS_SITE_URL": "https://talks.example.org", "WEB_CONCURRENCY": "1"}
    with running([str(venv / "bin/gunicorn"), "wsgi:app", "--bind", f"127.0.0.1:{port}"], clone,
                 env_server, r"Listening at: http", timeout=60) as (_match, proc, output):
        base = f"http://127.0.0.1:{port}"
        page = lxml.html.fromstring(fetch_when_ready(base + "/"))
        assert seed.series.title in page.findtext(".//title")
        calendar = icalendar.Calendar.from_ical(fetch_when_ready(base + "/calendar.ics"))
        events = calendar.walk("VEVENT")
        assert {talk_id_of(event): str(event["UID"]) for event in events} == {
            talk.id: talk_uid(talk.id) for talk in seed.talks}
        assert proc.poll() is None, output[-20:]
    assert any("gevent" in line for line in output), output[-20:]  # gunicorn.conf.py's worker
    feeds = str(venv / "bin/feeds")
    validate = subprocess.run([feeds, "validate"], cwd=clone, env=env, capture_output=True,
                              text=True, timeout=120)
    assert validate.returncode == 0, validate.stderr
    talk = seed.talks[0]
    target = tmp_path / "look-first.eml"
    announce = subprocess.run([feeds, "announce", talk.id, "--output", str(target)], cwd=clone,
                              env=env, capture_output=True, text=True, timeout=120)
    assert announce.returncode == 0, announce.stderr
    message = email.message_from_bytes(target.read_bytes().replace(b"\r\n", b"\n"),
                                       policy=email.policy.default)
    assert talk.title in str(message["Subject"]) and message["To"] is None


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
