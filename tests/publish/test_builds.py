"""The published build on disk, served by every gunicorn worker: it survives
kill -9, HUP and a restart while the data (and the secrets) file is broken;
a slow or failing build never delays a request; after an edit no client sees
a version go backwards; slow clients do not starve the production config.
Every server listens on 127.0.0.1, with bounded connections and time."""

from __future__ import annotations

import http.client
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import icalendar
import pytest

from feeds.commands import cli
from feeds.publish import builds, layout, routes

from helpers import SITE_URL, gunicorn, slow_builds

SERIES = "title: Efficient ML Reading Group"
TITLE = "Finite-Time Lyapunov Exponents of Deep Neural Networks"
TOKEN = "Kq3v9xY2mN8pR4tW6zB1cD5fG7hJ0kL2"
PATHS = ("/calendar.ics", "/", "/rss.xml", "/talks.json", "/talks/2026-05-11-mehlig/")


def get(base: str, path: str, timeout: float = 5) -> tuple[int, bytes, str, float]:
    """(status, body, ETag, seconds) of one request on a new connection."""
    host, port = base.removeprefix("http://").split(":")
    start = time.monotonic()
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, body, response.getheader("ETag") or "", time.monotonic() - start
    finally:
        conn.close()


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def health(base: str) -> dict:
    import json

    return json.loads(get(base, "/healthz")[1])


def workers(master: subprocess.Popen[bytes]) -> list[int]:
    text = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text()
    return [int(pid) for pid in text.split()]


def assert_last_good(base: str, good: dict[str, tuple[bytes, str]], seconds: float) -> int:
    """Every request for `seconds` answers 200 with the good bytes and ETag."""
    deadline, count = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        for path, (body, etag) in good.items():
            status, got, got_etag, _ = get(base, path)
            assert (status, got_etag) == (200, etag), path
            assert got == body, path
            count += 1
    return count


def break_file(path: Path) -> None:
    path.write_text(path.read_text().replace("duration: 60", "duration: sixty", 1))


@pytest.mark.slow
def test_the_last_good_build_survives_kill_hup_and_restart_with_broken_files(data_file, tmp_path):
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"join_url: https://meet.example.org/j/1\ntokens:\n"
                       f"  - token: {TOKEN}\n    label: A\n")
    env = {"FEEDS_SECRETS_FILE": str(secrets), "FEEDS_CHECK_INTERVAL": "0.2"}
    members = f"/members/{TOKEN}/calendar.ics"
    log = tmp_path / "gunicorn.log"
    with gunicorn(data_file, log, "--workers", "2", env=env) as (base, master):
        good = {path: get(base, path)[1:3] for path in (*PATHS, members)}
        assert all(etag for _, etag in good.values())
        break_file(data_file)
        secrets.write_text("tokens: [\n")
        wait_for(lambda: health(base)["status"] == "degraded")
        assert_last_good(base, good, 1.0)
        os.kill(workers(master)[0], signal.SIGKILL)
        assert assert_last_good(base, good, 3.0) > 0
        before = set(workers(master))
        master.send_signal(signal.SIGHUP)  # every worker is replaced
        wait_for(lambda: not before & set(workers(master)))
        assert_last_good(base, good, 2.0)
        state = health(base)
        assert state["status"] == "degraded" and "duration" in " ".join(state["errors"])
        assert str(data_file) in " ".join(state["errors"])
    with gunicorn(data_file, log, "--workers", "2", env=env, ready="/calendar.ics") as (base, _):
        assert_last_good(base, good, 2.0)  # a full stop and start
    assert TOKEN not in log.read_text()


@pytest.mark.slow
def test_a_slow_or_failing_build_never_delays_a_request(data_file, tmp_path):
    step, env = slow_builds(tmp_path, FEEDS_BUILD_TIMEOUT="3", FEEDS_CHECK_INTERVAL="0.2")
    with gunicorn(data_file, tmp_path / "log", "--workers", "2", env=env) as (base, _):
        good = {path: get(base, path)[1:3] for path in PATHS}
        for what, reason in (("fail", "an injected failure"), ("30", "FEEDS_BUILD_TIMEOUT=3")):
            step.set(what)
            text = data_file.read_text()
            data_file.write_text(text.replace(TITLE, f"Edited ({what})"))
            deadline = time.monotonic() + 15
            while reason not in " ".join(health(base)["errors"]):
                assert time.monotonic() < deadline, health(base)
                status, body, etag, seconds = get(base, "/calendar.ics")
                assert (status, body, etag) == (200, *good["/calendar.ics"])
                assert seconds < 0.5
            assert health(base)["status"] == "degraded"
            data_file.write_text(text)
        step.set("")
        data_file.write_text(text.replace(TITLE, "Edited at last"))
        wait_for(lambda: b"Edited at last" in get(base, "/calendar.ics")[1])
        assert health(base)["status"] == "ok"


@pytest.mark.slow
def test_after_edits_no_client_sees_a_version_go_backwards(data_file, tmp_path):
    """Eight clients poll three workers through four edits; each records the
    version every response shows. Each client's versions never go down, and
    all clients reach the last one shortly after the first client does."""
    env = {"FEEDS_CHECK_INTERVAL": "1.0"}
    base_text = data_file.read_text()
    seen: list[list[tuple[float, int]]] = [[] for _ in range(8)]
    stop = threading.Event()
    errors: list[str] = []

    def version(body: bytes) -> int:
        """The N of the calendar's name "… vN" (0 before the first edit)."""
        name = str(icalendar.Calendar.from_ical(body)["X-WR-CALNAME"])
        found = re.findall(r" v(\d+)$", name)
        return int(found[0]) if found else 0

    with gunicorn(data_file, tmp_path / "log", "--workers", "3", env=env) as (base, _):

        def poll(mine: list[tuple[float, int]]) -> None:
            while not stop.is_set():
                try:
                    status, body, _, _ = get(base, "/calendar.ics")
                    assert status == 200
                    mine.append((time.monotonic(), version(body)))
                except Exception as exc:  # reported below
                    errors.append(repr(exc))
                time.sleep(0.02)

        threads = [threading.Thread(target=poll, args=(mine,)) for mine in seen]
        for thread in threads:
            thread.start()
        try:
            for n in range(1, 5):
                text = base_text.replace(SERIES, f"{SERIES} v{n}", 1)
                data_file.with_suffix(".tmp").write_text(text)
                os.replace(data_file.with_suffix(".tmp"), data_file)
                try:
                    wait_for(lambda n=n: all(mine and mine[-1][1] == n for mine in seen), 15)
                except AssertionError:
                    raise AssertionError((n, [m[-3:] for m in seen], errors[:3], health(base))) from None
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
    assert not errors, errors[:3]
    for mine in seen:
        versions = [v for _, v in mine]
        assert versions == sorted(versions)
    for n in range(1, 5):
        firsts = [next(t for t, v in mine if v >= n) for mine in seen]
        assert max(firsts) - min(firsts) < 1.5, n


def slow_clients(base: str, count: int, mode: str, seconds: float) -> list[float]:
    """`count` connections that send their headers a byte at a time ("headers")
    or ask for the calendar and never read ("read"), while a probe asks for
    /calendar.ics every 0.1 s; returns the probes' times."""
    host, port = base.removeprefix("http://").split(":")
    socks = []
    request = b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(5)
            sock.connect((host, int(port)))
            sock.setblocking(False)
            if mode == "read":
                sock.sendall(request)
            socks.append(sock)
        probes, deadline, sent = [], time.monotonic() + seconds, 0
        while time.monotonic() < deadline:
            if mode == "headers":
                for sock in socks:
                    try:
                        sock.send(request[sent % 20:sent % 20 + 1])
                    except OSError:
                        pass
                sent += 1
            status, _, _, took = get(base, "/calendar.ics", timeout=5)
            assert status == 200
            probes.append(took)
            time.sleep(0.1)
        return probes
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["headers", "read"])
def test_slow_clients_do_not_starve_the_production_config(data_file, tmp_path, mode):
    with gunicorn(data_file, tmp_path / "log") as (base, _):
        probes = slow_clients(base, 500, mode, 4.0)
    assert probes and max(probes) < 1.0, max(probes)


# --- the build directory ---------------------------------------------------------------

def test_the_published_site_is_what_feeds_build_writes(app, data_file, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "utc_now", lambda: app.config["CLOCK"]())
    outdir = tmp_path / "site"
    assert cli.main(["build", str(outdir), "--data", str(data_file), "--site-url", SITE_URL]) == 0
    build = app.extensions["feeds"].current()
    site = build.directory / layout.SITE

    def tree(root: Path) -> dict[str, tuple[bytes, int]]:
        return {str(p.relative_to(root)): (p.read_bytes(), int(p.stat().st_mtime))
                for p in root.rglob("*") if p.is_file()}

    published, built = tree(site), tree(outdir)
    assert {k: v[0] for k, v in published.items()} == {k: v[0] for k, v in built.items()}
    now = time.time()
    for name, (_, mtime) in published.items():  # dated by the route, or written just now
        assert mtime == built[name][1] or max(now - mtime, now - built[name][1]) < 60, name


def test_old_builds_are_deleted_but_the_last_few_kept(make_app, data_file):
    app = make_app(KEEP_BUILDS=2)
    client = app.test_client()
    state = app.extensions["feeds"].state
    for n in range(4):
        data_file.write_text(data_file.read_text().replace(TITLE, f"{TITLE} {n}"))
        os.utime(data_file, (time.time() - 10,) * 2)
        assert f"{TITLE} {n}".encode() in client.get("/talks/2026-05-11-mehlig/").data
    names = sorted(p.name for p in (state / "builds").iterdir())
    assert len(names) == 5  # none superseded long enough to go
    builds.prune(state, 2, wall=time.time() + builds.GRACE + 1)
    kept = sorted(p.name for p in (state / "builds").iterdir())
    assert kept == names[-2:] and layout.current_name(state) == names[-1]


def test_a_worker_started_over_a_published_build_reads_no_data(make_app, data_file, monkeypatch):
    good = make_app().test_client().get("/calendar.ics")
    from feeds.data import recorded
    from feeds.publish import builder, made_from

    monkeypatch.setattr(recorded, "parse_schedule", lambda *a: pytest.fail("read the YAML"))
    monkeypatch.setattr(made_from, "parse_schedule", lambda *a: pytest.fail("read the stored YAML"))
    monkeypatch.setattr(builder, "render_snapshot", lambda *a: pytest.fail("built"))
    again = make_app().test_client().get("/calendar.ics")
    assert (again.data, again.headers["ETag"]) == (good.data, good.headers["ETag"])


def test_the_builder_process_publishes_a_build(data_file, tmp_path):
    """The background builder, run as the server runs it."""
    from dataclasses import asdict

    from feeds.publish.builder import BuildJob
    from feeds.publish.builder_process import BUILDER_COMMAND

    job = BuildJob(str(data_file), str(tmp_path / "state"), SITE_URL, 100, 3600, 3, 30.0, 0.0)
    import json

    done = subprocess.run([*BUILDER_COMMAND,
                           json.dumps(asdict(job))], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    build = builds.open_current(tmp_path / "state")
    assert build is not None and build.talks == 12
    assert icalendar.Calendar.from_ical(build.routes["/calendar.ics"].body).walk("VEVENT")


def test_workers_over_an_unreadable_build_start_a_builder_for_it(data_file, tmp_path,
                                                                  monkeypatch):
    """In process mode, a worker never serves a build whose context is cut
    short: it starts a builder, which builds again from the data file."""
    from feeds.server.publisher import Publisher
    from feeds.settings import Settings

    # No watcher thread outliving the test: requests alone make the worker look.
    monkeypatch.setattr(Publisher, "_start_watcher", lambda self: None)

    state = tmp_path / "state"
    settings = Settings(talks_file=str(data_file), site_url=SITE_URL, feed_limit=100)
    first = Publisher(replace(settings, build_mode="inline"), state).current()
    assert first is not None
    calendar = first.routes["/calendar.ics"].body  # the build is set aside below
    stored = first.directory / layout.CONTEXT
    stored.write_bytes(stored.read_bytes()[:100])

    worker = Publisher(replace(settings, build_mode="process", check_interval=0.05), state)
    deadline = time.monotonic() + 60
    build = worker.current()
    assert build is None or build.name != first.name  # never the unreadable one
    while build is None and time.monotonic() < deadline:
        time.sleep(0.05)
        build = worker.current()
    assert build is not None and build.name != first.name
    assert build.routes["/calendar.ics"].body == calendar
    assert len(build.context.schedule.talks) == build.talks == 12


def test_routes_are_looked_up_in_the_build_one_at_a_time(app, data_file):
    """Opening a build reads no per-route data; each route answers with the
    same bytes as its file, also after the build directory is pruned."""
    client = app.test_client()
    build = builds.open_current(app.extensions["feeds"].state)
    assert build is not None
    index = (build.directory / layout.INDEX).read_text(encoding="utf-8")
    assert "/calendar.ics" not in index  # the routes live in the route table
    assert len(build.routes) == len(list(build.routes)) > 20
    assert "/calendar.ics" in build.routes and "/no-such-page" not in build.routes
    assert build.routes.get("/no-such-page") is None
    for route in list(build.routes)[:40]:
        response = client.get(route)
        assert response.status_code == 200, route
        assert response.data == build.routes[route].body
        assert response.headers["ETag"].strip('"') == build.routes[route].etag
    import shutil

    shutil.rmtree(build.directory / layout.SITE)  # files go; the open table stays
    assert build.routes["/atom.xml"].etag


EMBED_DARK = "/embed/?theme=dark&limit=3"


def _refuse_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a published build was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)


def _responses(client, paths=(*PATHS, EMBED_DARK)) -> dict[str, tuple[int, bytes, str]]:
    return {path: (r.status_code, r.data, r.headers.get("ETag", ""))
            for path in paths for r in [client.get(path)]}


def test_a_build_of_the_previous_layout_is_built_again_from_its_data(make_app, data_file,
                                                                      monkeypatch):
    """After an upgrade, a build with a pickled model (format 2) is neither
    unpickled nor served: the first start builds again from the data file
    and serves the same bytes as the build before it."""
    first_app = make_app()
    state = first_app.extensions["feeds"].state
    before = _responses(first_app.test_client())
    assert before[EMBED_DARK][0] == 200
    build = builds.open_current(state)
    assert build is not None
    # The previous layout: format 2, no context.json, and a model.pickle whose
    # class lives in a module that no longer exists.
    index = json.loads((build.directory / layout.INDEX).read_text(encoding="utf-8"))
    index["format"] = 2
    del index["context"]
    (build.directory / layout.INDEX).write_text(json.dumps(index), encoding="utf-8")
    (build.directory / layout.CONTEXT).unlink()
    model = b"cfeeds.snapshot\nBuild\n)R."  # feeds.snapshot.Build(), pickle protocol 0
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(model)
    (build.directory / "model.pickle").write_bytes(model)
    with pytest.raises(routes.UnreadableBuild):
        builds.PublishedBuild(build.directory)
    _refuse_unpickling(monkeypatch)

    after = _responses(make_app().test_client())  # built again before it serves
    assert after == before
    rebuilt = builds.open_current(state)
    assert rebuilt is not None and rebuilt.format == builds.FORMAT
    assert rebuilt.name != build.name and rebuilt.version == build.version
    assert (rebuilt.directory / layout.CONTEXT).exists()
    assert not (rebuilt.directory / "model.pickle").exists()


@pytest.mark.parametrize("damage", ["missing", "truncated", "zeroed"])
def test_a_build_whose_context_cannot_be_read_is_built_again(make_app, data_file, damage):
    """A build whose stored context is missing, cut short or overwritten is
    never served half-read: the next start builds again from the data file."""
    first_app = make_app()
    state = first_app.extensions["feeds"].state
    before = _responses(first_app.test_client())
    build = builds.open_current(state)
    assert build is not None
    stored = build.directory / layout.CONTEXT
    size = stored.stat().st_size
    if damage == "missing":
        stored.unlink()
    elif damage == "truncated":
        stored.write_bytes(stored.read_bytes()[: size // 2])
    else:  # the same size, as a file system may leave it after a crash
        stored.write_bytes(bytes(size))
    with pytest.raises(routes.UnreadableBuild):
        builds.PublishedBuild(build.directory)

    after = _responses(make_app().test_client())
    assert after == before
    rebuilt = builds.open_current(state)
    assert rebuilt is not None and rebuilt.name != build.name


def test_a_context_damaged_inside_is_never_rendered_from(make_app, data_file, caplog):
    """Damage the open-time check cannot see (inside the file, same size) is
    found when the context is read: /embed?… answers 503, never a page made
    from half the data, while the published routes keep their bytes."""
    first_app = make_app()
    before = _responses(first_app.test_client())
    build = builds.open_current(first_app.extensions["feeds"].state)
    assert build is not None
    stored = build.directory / layout.CONTEXT
    blob = bytearray(stored.read_bytes())
    middle = len(blob) // 2
    blob[middle:middle + 8] = b"\0" * 8
    stored.write_bytes(bytes(blob))
    client = make_app().test_client()
    assert client.get(EMBED_DARK).status_code == 503
    assert "not the file its build wrote" in caplog.text
    assert _responses(client, PATHS) == {path: before[path] for path in PATHS}


def test_the_context_is_stored_as_data_and_read_back_with_the_loader(make_app, data_file):
    """context.json holds the data file's text, the ledger's rows and the
    build's settings as JSON; read back, it is the context the build used."""
    from feeds.data.loader import load_schedule
    from feeds.data.revisions import ledger_path, read_ledger

    app = make_app()
    app.test_client().get("/")
    build = builds.open_current(app.extensions["feeds"].state)
    assert build is not None
    stored = json.loads((build.directory / layout.CONTEXT).read_text(encoding="utf-8"))
    assert stored["data"] == data_file.read_text(encoding="utf-8")
    assert stored["site"] == SITE_URL
    context = build.context
    assert context.schedule == load_schedule(data_file)
    assert context.revisions == read_ledger(ledger_path(data_file))
    assert context.site.base == SITE_URL
