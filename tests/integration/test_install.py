"""A stranger's install: `pip install .` (not editable) of a fresh copy of
the repository, into a virtual environment made from Debian's own
/usr/bin/python3, carries every subpackage, template, static file and
new-series file, and serves and builds the seed from there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import icalendar
import pytest

from helpers import ROOT, SYSTEM_PYTHON, clean_environment, fresh_copy

#: Lists the installed package's files and imports every module, far from the copy.
PROBE = """
import importlib, json, pkgutil, sys
from pathlib import Path
import feeds
root = Path(feeds.__file__).parent
modules = sorted(m.name for m in pkgutil.walk_packages([str(root)], "feeds."))
for name in modules:
    if not name.endswith(".__main__"):  # that one runs the command
        importlib.import_module(name)
files = sorted(str(p.relative_to(root)) for p in root.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts)
print(json.dumps({"root": str(root), "modules": modules, "files": files}))
"""

#: The seed through create_app, with a Flask test client, as a WSGI server would.
SERVE = """
import json, sys
from feeds import create_app
app = create_app({"TALKS_FILE": sys.argv[1], "SITE_URL": "https://talks.example.org",
                  "STATE_DIR": sys.argv[2], "BUILD_MODE": "inline"})
client = app.test_client()
out = {}
for path in ["/", "/calendar.ics", "/talks/2026-04-13-fischer/", "/static/style.css", "/embed.js",
             "/talks.schema.json", "/healthz"]:
    response = client.get(path)
    out[path] = [response.status_code, response.get_data(as_text=True)]
print(json.dumps(out))
"""


def tracked_package_files() -> set[str]:
    """Every file of feeds/ in the repository, relative to feeds/."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                             "feeds"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {name.removeprefix("feeds/") for name in filter(None, listed.split("\0"))
            if (ROOT / name).is_file()}


@pytest.mark.slow
def test_a_plain_pip_install_carries_everything_and_serves_the_seed(tmp_path):
    python = SYSTEM_PYTHON if SYSTEM_PYTHON.exists() else Path(sys.executable)
    copy = tmp_path / "feeds-copy"
    fresh_copy(copy)
    venv = tmp_path / "venv"
    env = clean_environment()
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True, env=env, timeout=300)
    bin_ = venv / "bin"
    install = subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "-q", str(copy)],
                             capture_output=True, text=True, env=env, timeout=1200)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"  # not the copy: the installed package, not its source
    elsewhere.mkdir()

    def run(*command: str) -> str:
        done = subprocess.run(list(command), capture_output=True, text=True, env=env,
                              cwd=elsewhere, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    probe = json.loads(run(str(bin_ / "python"), "-c", PROBE))
    assert Path(probe["root"]).is_relative_to(venv), probe["root"]
    installed = set(probe["files"])
    missing = sorted(tracked_package_files() - installed)
    assert not missing, f"pip install . leaves out: {missing}"
    for package in ("feeds.data", "feeds.formats", "feeds.publish", "feeds.server", "feeds.commands"):
        assert package in probe["modules"]
    assert {"new_series/talks.yaml", "new_series/gitignore", "templates/home.html",
            "static/embed.js"} <= installed

    assert run(str(bin_ / "feeds"), "--version") == "feeds 1.0.0\n"
    data = tmp_path / "data" / "talks.yaml"
    data.parent.mkdir()
    data.write_bytes((copy / "data" / "talks.yaml").read_bytes())
    served = json.loads(run(str(bin_ / "python"), "-c", SERVE, str(data), str(tmp_path / "state")))
    assert {path: code for path, (code, _body) in served.items()} == dict.fromkeys(served, 200)
    assert "Efficient ML Reading Group" in served["/"][1]
    assert "Sustainable Development" in served["/talks/2026-04-13-fischer/"][1]
    events = icalendar.Calendar.from_ical(served["/calendar.ics"][1]).walk("VEVENT")
    assert len(events) == 12

    site = tmp_path / "site"
    run(str(bin_ / "feeds"), "build", str(site), "--data", str(data),
        "--site-url", "https://talks.example.org")
    for page in ("index.html", "calendar.ics", "archive.ics", "rss.xml", "atom.xml", "talks.json",
                 "talks/2026-04-13-fischer/index.html", "static/style.css", "embed/index.html"):
        assert (site / page).is_file(), page

    run(str(bin_ / "feeds"), "init", str(tmp_path / "new-series"), "--title", "New Talks")
    requirement = (tmp_path / "new-series" / "requirements.txt").read_text(encoding="utf-8")
    assert "feeds @ git+https://" in requirement and "@v1.0.0\n" in requirement
