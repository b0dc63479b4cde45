"""Shared test helpers: paths, a fixed clock, snapshots of a schedule, edits
of a data file, and servers on loopback."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from socketserver import BaseServer
from typing import Any

from feeds.data.revisions import Revision, advance
from feeds.model import Schedule
from feeds.publish.snapshot import BuildOptions, Snapshot, build_snapshot
from feeds.urls import Site

ROOT = Path(__file__).resolve().parent.parent
SEED_DATA = ROOT / "data" / "talks.yaml"
SITE_URL = "https://talks.example.org"
# What data/talks.yaml pins as series.id_authority: its feed ids are tag:this,2026:…
SEED_ID_AUTHORITY = "efficientml@gmail.com"
# A fixed "now" between the March and April 2026 talks of the seed.
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)


def talk_uid(talk_id: str, authority: str = SEED_ID_AUTHORITY) -> str:
    """A talk's UID as the organisers' guide states it: the version 5 UUID (URL namespace)
    of the talk's tag: id, tag:<authority>,2026:talk/<id> (RFC 4151)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tag:{authority},2026:talk/{talk_id}"))


def talk_id_of(event: Any) -> str:
    """The talk id of an icalendar VEVENT, from its URL (the talk page's
    address ends in the id): the UID, a UUID, does not show it."""
    return str(event["URL"]).rstrip("/").rsplit("/", 1)[-1]


class FakeClock:
    """An injectable clock that tests move by hand."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def revisions_for(schedule: Schedule, now: datetime = NOW) -> dict[str, Revision]:
    """Fresh revisions for every talk, as a new ledger would record them."""
    return advance({}, schedule, now)


def snapshot_for(schedule: Schedule, now: datetime = NOW, site: str = SITE_URL) -> Snapshot:
    return build_snapshot(schedule, revisions_for(schedule, now), BuildOptions(Site(site)), now)


def routes(app) -> dict[str, object]:
    """The public routes of the app's current snapshot."""
    return app.extensions["feeds"].current().routes


def add_to_talk(data_file: Path, talk_id: str, line: str) -> None:
    """Add a `key: value` line to one talk of the data file."""
    text = data_file.read_text(encoding="utf-8")
    marker = f"  - id: {talk_id}\n"
    assert marker in text
    data_file.write_text(text.replace(marker, f"{marker}    {line}\n"), encoding="utf-8")


class PlainStatic(http.server.SimpleHTTPRequestHandler):
    """Python's plain static server (`python3 -m http.server`), no rewrites:
    an export needs none."""

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def static_site(directory: Path) -> Iterator[str]:
    """`directory` served by PlainStatic on 127.0.0.1; yields its base URL."""
    handler = functools.partial(PlainStatic, directory=str(directory))
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url


def fetch_followed(url: str) -> tuple[int, str, bytes, str]:
    """(status, content type, body, final URL) after redirects."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get_content_type(), response.read(), response.url
    except urllib.error.HTTPError as error:
        return error.code, "", b"", url


@contextlib.contextmanager
def serving(server: BaseServer) -> Iterator[str]:
    """Run `server` (bound to 127.0.0.1) in a thread; yields its base URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(data_file: Path, log: Path, *args: str, env: dict[str, str] | None = None,
             app: str = "wsgi:app", ready: str = "/healthz", timeout: float = 30,
             root: Path = ROOT) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """gunicorn with the repository's gunicorn.conf.py on 127.0.0.1, serving
    `data_file` with `app`; yields (base URL, process) once `ready` answers
    200 (at once if `ready` is empty: the caller makes the first request).
    Extra `args` go on gunicorn's command line (e.g. "--workers", "3").
    `root`: another checkout to run (its code and its gunicorn.conf.py; the
    benchmarks' "before"). The tests and the benchmarks start gunicorn only
    through this."""
    port = free_port()
    path = os.pathsep.join(filter(None, [str(root), str(ROOT / "bench"),
                                         os.environ.get("PYTHONPATH", "")]))
    environment = {**os.environ, "FEEDS_TALKS_FILE": str(data_file),
                   "FEEDS_SITE_URL": "https://talks.example.org", "PYTHONPATH": path,
                   "FEEDS_STATE_DIR": str(data_file.parent / "state"), **(env or {})}
    command = [sys.executable, "-m", "gunicorn", "-c", str(root / "gunicorn.conf.py"),
               "--bind", f"127.0.0.1:{port}", *args, app]
    with open(log, "ab") as out:
        # Its own process group: the builders its workers start are in it too.
        proc = subprocess.Popen(command, cwd=root, env=environment, stdout=out, stderr=out,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while ready:
            try:
                with urllib.request.urlopen(base + ready, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start: {log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield base, proc
    finally:
        stop(proc, 15)
        stop_group(proc.pid, 5)


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_CONFIG = ROOT / "deploy" / "nginx" / "feeds.conf"


def nginx_config(site: Path, listen: int, upstream: int) -> str:
    """deploy/nginx/feeds.conf with its three site-specific lines replaced,
    as README says: the published `site` folder, nginx's port, gunicorn's."""
    text = NGINX_CONFIG.read_text()
    for old, new in (("root /var/lib/feeds/sources/KEY/current/site;", f"root {site};"),
                     ("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{listen};"),
                     ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};")):
        if text.count(old) != 1:
            raise AssertionError(f"{NGINX_CONFIG} no longer has the line {old!r}")
        text = text.replace(old, new)
    return text


@contextlib.contextmanager
def nginx(site: Path, upstream: str, prefix: Path, workers: int = 1,
          timeout: float = 15) -> Iterator[tuple[str, subprocess.CompletedProcess[str],
                                                 subprocess.Popen[bytes]]]:
    """Debian's nginx with the shipped config in front of gunicorn at
    `upstream` (its base URL), serving `site` (FEEDS_STATE_DIR/sources/<key>/
    current/site), on loopback with the temporary prefix `prefix` (logs in
    prefix/logs). As root, nginx runs as nobody: `site` must be readable by
    all. Yields (base URL, the result of `nginx -t`, the process)."""
    for sub in ("conf", "logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    listen = free_port()
    (prefix / "conf" / "feeds.conf").write_text(
        nginx_config(site, listen, int(upstream.rsplit(":", 1)[1])))
    temp = "\n".join(f"    {kind}_temp_path {prefix}/tmp/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "conf" / "nginx.conf").write_text(
        f"worker_processes {workers};\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/logs/error.log;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n    access_log {prefix}/logs/access.log;\n{temp}\n"
        f"    include feeds.conf;\n}}\n")
    command = [NGINX, "-p", str(prefix), "-c", "conf/nginx.conf",
               "-e", str(prefix / "logs" / "error.log")]
    if os.geteuid() == 0:  # never as root: as nobody, owning its prefix
        for path in (prefix, *prefix.rglob("*")):
            os.chown(path, 65534, 65534)
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    proc = subprocess.Popen([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{listen}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", listen), timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = prefix / "logs" / "error.log"
                    raise RuntimeError(f"nginx did not start: {checked.stderr}"
                                       f"{log.read_text(errors='replace') if log.exists() else ''}") from None
                time.sleep(0.05)
        yield base, checked, proc
    finally:
        stop(proc, 10)


@contextlib.contextmanager
def running(command: list[str], cwd: Path, env: dict[str, str], ready: str,
            timeout: float = 30) -> Iterator[tuple[re.Match[str], subprocess.Popen[str], list[str]]]:
    """Run `command`; yields (the match of `ready` in its output, the process,
    every output line so far) once a line of its stdout or stderr matches."""
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")),  # type: ignore[union-attr]
                     daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        while not (match := next(filter(None, (re.search(ready, line) for line in list(seen))), None)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {ready!r} within {timeout}s: {seen}")
            time.sleep(0.05)
        yield match, proc, seen
    finally:
        stop(proc, 10)


def stop(proc: subprocess.Popen[Any], grace: float) -> None:
    """Terminate `proc`; kill it if it is still there after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def group_members(group: int) -> list[int]:
    """The live (not zombie) processes of process group `group`, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def stop_group(group: int, grace: float) -> None:
    """Wait until every process of `group` has ended (a builder ends within
    moments of its server, removing what it half wrote); kill what is left
    after `grace` seconds. The caller's folders can then be removed."""
    deadline = time.monotonic() + grace
    while (members := group_members(group)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without FEEDS_* settings, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}, **extra}


# --- shared by several test modules ------------------------------------------------

#: Debian's own Python: the quick start's, and what the fresh-venv tests build on.
SYSTEM_PYTHON = Path("/usr/bin/python3")
#: The browser the page tests drive (Debian's chromium), and its flags.
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (tests never download a browser)."""
    import pytest
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (tests never download a browser)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class WsgiServer:
    """A WSGI app (set now or later) served on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: Any = None) -> None:
        from werkzeug.serving import make_server

        self.app = app
        self.http = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def _dispatch(self, environ: Any, start_response: Any) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)

    def close(self) -> None:
        self.http.shutdown()
        self.thread.join(timeout=5)


#: Screenshots and other files for a person to look at (not committed).
ARTIFACTS = ROOT / "tests" / "artifacts"
HOSTILE_TITLE = '<script>alert(1)</script> "Quoted" & <b>bold</b>'
HOSTILE_ABSTRACT = '</script><script>alert(2)</script> "q" & <img src=x onerror=alert(3)>'
HOSTILE_ID = "2026-04-20-hostile"


def add_talk(data_file: Path, **fields: object) -> None:
    """Append a talk to the data file; strings are written JSON-quoted,
    which YAML reads back exactly."""
    lines = [f"  - id: {fields.pop('id')}"]
    lines += [f"    {key}: {json.dumps(value)}" for key, value in fields.items()]
    data_file.write_text(data_file.read_text() + "\n" + "\n".join(lines) + "\n")


def add_hostile_talk(data_file: Path) -> None:
    add_talk(data_file, id=HOSTILE_ID, date="2026-04-20", title=HOSTILE_TITLE,
             abstract=HOSTILE_ABSTRACT,
             speakers=[{"name": 'Eve "<i>" & Co', "affiliation": "A&B <Lab>"}],
             note='See <a href="javascript:alert(4)">this</a> & https://example.org/?a=1&b=2.')


def fresh_copy(target: Path) -> None:
    """What a clone of this checkout holds: its tracked and new files, nothing ignored."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def newsboat(url: str, home: Path) -> list[tuple[str, str, str, int]]:
    """Reload `url` with newsboat and return (guid, title, link, date) of
    what its cache holds, as its article list shows them."""
    home.mkdir(exist_ok=True)
    (home / "urls").write_text(url + "\n")
    (home / "config").write_text("")
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home),
           "XDG_DATA_HOME": str(home)}
    args = ["newsboat", "-u", str(home / "urls"), "-c", str(home / "cache.db"),
            "-C", str(home / "config")]
    done = subprocess.run(args + ["-x", "reload"], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(home / "cache.db") as db:
        return db.execute("SELECT guid, title, url, pubDate FROM rss_item WHERE deleted = 0 "
                          "ORDER BY pubDate DESC").fetchall()


#: A sitecustomize for builder processes: each render waits for what
#: $STEP_FILE says (seconds), or fails if it says "fail" (see slow_builds).
SLOW_STEP = """\
import os, sys, time
if sys.argv[:1] == ["-c"] and os.environ.get("STEP_FILE"):  # only in a builder process
    from feeds.publish import builder
    real = builder.render_snapshot
    def step(*args, **kwargs):
        what = open(os.environ["STEP_FILE"]).read().strip()
        if what == "fail":
            raise RuntimeError("an injected failure")
        if what:
            time.sleep(float(what))
        return real(*args, **kwargs)
    builder.render_snapshot = step
"""


class BuildStep:
    """What builder processes started with slow_builds' environment do in
    each build: "" nothing more, "fail" fail, a number of seconds: wait that
    long first. Each change replaces the file at once: a builder never reads
    it half-written (as empty)."""

    def __init__(self, path: Path):
        self.path = path
        self.set("")

    def set(self, what: str) -> None:
        staged = self.path.with_name(self.path.name + ".new")
        staged.write_text(what)
        os.replace(staged, self.path)


def slow_builds(folder: Path, **settings: str) -> tuple[BuildStep, dict[str, str]]:
    """The step that steers builder processes started with the returned
    environment (SLOW_STEP, as their sitecustomize), plus `settings` (FEEDS_*)."""
    inject = folder / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(SLOW_STEP)
    step = BuildStep(folder / "step")
    return step, {"STEP_FILE": str(step.path), **settings,
                  "PYTHONPATH": os.pathsep.join([str(inject), os.environ.get("PYTHONPATH", "")])}


# --- a generated hub: three series in three zones ---------------------------------------

#: The hub's series: (slug, title, zone, time, id authority, series tags).
HUB_SERIES = (
    ("efficient-ml", "Efficient ML", "Europe/Berlin", "17:00", "efficient@example.org",
     ("machine-learning",)),
    ("theory", "Theory Seminar", "America/New_York", "11:00", "theory.example.org",
     ("mathematics",)),
    ("kyoto-nlp", "Kyoto NLP", "Asia/Tokyo", "18:30", "nlp@example.jp",
     ("machine-learning", "language")),
)
HUB_SITE = """title: Talks of the Network
description: Every reading group and seminar of the network.
contact: hub@example.org
id_authority: hub.example.org
"""


def hub_series_text(slug: str, title: str, zone: str, clock: str, authority: str,
                    tags: tuple[str, ...], talks: int = 4, first: str = "2026-03-02") -> str:
    """A series file of the generated hub: `talks` talks two weeks apart
    from `first`, with ids that repeat across the series (talk-1, talk-2,
    …) and, on every second talk, a tag of its own."""
    start = datetime.fromisoformat(first).date()
    lines = ["series:", f"  title: {title}", f"  contact: {slug}@example.org",
             f"  timezone: {zone}", f'  time: "{clock}"', f"  id_authority: {authority}",
             f"  tags: [{', '.join(tags)}]", "talks:"]
    for n in range(1, talks + 1):
        day = start.toordinal() + 14 * (n - 1)
        lines += [f"  - id: talk-{n}", f"    date: {datetime.fromordinal(day).date()}",
                  f"    title: {title} talk {n}", "    speakers:",
                  f"      - name: Speaker {n} of {title}",
                  f"    abstract: Talk {n} of the {title}."]
        if n % 2 == 0:
            lines.append(f"    tags: [{slug}-special]")
    return "\n".join(lines) + "\n"


def write_hub(folder: Path, talks: int = 4) -> Path:
    """A hub folder of the three HUB_SERIES; returns it."""
    (folder / "series").mkdir(parents=True, exist_ok=True)
    (folder / "site.yaml").write_text(HUB_SITE, encoding="utf-8")
    for slug, *fields in HUB_SERIES:
        (folder / "series" / f"{slug}.yaml").write_text(
            hub_series_text(slug, *fields, talks=talks), encoding="utf-8")  # type: ignore[arg-type]
    return folder
