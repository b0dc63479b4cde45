"""The documentation (docs/, mkdocs.yml) holds what it says: it builds
strictly, its generated reference pages match the code, the install guide's
commands run as written in a fresh clone with Debian's own python3, every
nginx configuration in it passes `nginx -t` (and the static one serves a
built site with the server's content types and security headers), and the
shipped systemd unit passes `systemd-analyze verify`."""

from __future__ import annotations

import dataclasses
import http.client
import importlib.util
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import icalendar
import lxml.html
import pytest

from feeds import settings
from feeds.data import loader
from feeds.data.loader import load_schedule
from feeds.formats import schema

from helpers import (
    ROOT,
    SEED_DATA,
    SYSTEM_PYTHON,
    clean_environment,
    free_port,
    fresh_copy,
    snapshot_for,
    talk_id_of,
    talk_uid,
)
from smtp_server import make_certificates

DOCS = ROOT / "docs"
INSTALL_GUIDE = DOCS / "operators" / "install.md"
UNIT = ROOT / "deploy" / "systemd" / "feeds.service"
#: What marks a shell block of the install guide: run by the test as the
#: feeds account, the server (run last, in the background), or root's.
MARKERS = ("<!-- runnable -->", "<!-- runnable: server -->", "<!-- as root -->")
#: The repository's address, as the guide clones it (pyproject.toml's Repository).
REPOSITORY = "https://github.com/efficient-ml-reading-group/feeds.git"


def fenced_blocks(text: str, language: str) -> list[tuple[str, str]]:
    """Every ```language block of a Markdown text, with the line before it."""
    found = []
    for match in re.finditer(rf"^```{language}\n(.*?)^```$", text, re.S | re.M):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found.append((before.strip(), match.group(1)))
    return found


#: A pymdownx.snippets include line (mkdocs.yml: base_path is the checkout).
INCLUDE = re.compile(r'^--8<-- "([^"]+)"$', re.M)


def included(block: str) -> str:
    """`block` with each `--8<-- "path"` line replaced by that file's text,
    as mkdocs shows it."""
    return INCLUDE.sub(lambda match: (ROOT / match.group(1)).read_text(encoding="utf-8").rstrip("\n"),
                       block)


def nginx_snippets() -> list[tuple[str, str]]:
    """Every nginx block of the documentation, with the page it is on (an
    included file, such as deploy/nginx/feeds.conf, as its text)."""
    return [(str(page.relative_to(ROOT)), included(block)) for page in sorted(DOCS.rglob("*.md"))
            for _before, block in fenced_blocks(page.read_text(encoding="utf-8"), "nginx")]


# --- the site builds strictly, and its generated pages are current -------------------------


def test_the_site_builds_strictly(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    assert mkdocs.exists(), "install the docs extra: pip install -e '.[docs]'"
    site = tmp_path / "site"
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for audience in ("subscribers", "organisers", "webmasters", "operators", "developers"):
        assert (site / audience / "index.html").is_file()
    # The security page is SECURITY.md itself, and the install page shows the shipped unit.
    security = lxml.html.parse(str(site / "operators" / "security" / "index.html"))
    assert "Who may write the state folder" in security.xpath("string(//article)")
    install = lxml.html.parse(str(site / "operators" / "install" / "index.html"))
    assert "ExecStart=/srv/feeds/feeds/.venv/bin/gunicorn wsgi:app" in install.xpath("string(//article)")


def load_reference():
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "scripts" / "docs_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_reference_pages_are_current():
    reference = load_reference()
    assert reference.stale() == [], "run python scripts/docs_reference.py"


def test_the_reference_pages_name_every_setting_and_every_key():
    page = (DOCS / "operators" / "settings.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(FEEDS_[A-Z_]+)` \|", page, re.M)
    assert rows == [settings.variable(item.name) for item in dataclasses.fields(settings.Settings)]
    assert "| `FEEDS_SITE_URL` | text | `http://localhost:5000` |" in page
    keys = (DOCS / "organisers" / "data-file-reference.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## `(\w+)`\n(.*?)(?=^## |\Z)", keys, re.M | re.S))
    for section, expected in (("series", loader.SERIES_KEYS | {"uid_domain"}), ("talks", loader.TALK_KEYS),
                              ("speakers", loader.SPEAKER_KEYS), ("links", loader.LINK_KEYS)):
        assert set(re.findall(r"^\| `(\w+)` \|", sections[section], re.M)) == set(expected), section
    # Descriptions come from the schema: an organiser reads the same words in the editor.
    assert schema.TALK_FIELDS["recording"]["description"] in sections["talks"]


def test_the_stale_check_notices_an_edit(tmp_path, monkeypatch):
    reference = load_reference()
    copy = tmp_path / "settings.md"
    copy.write_text(reference.settings_markdown().replace("FEEDS_FEED_LIMIT", "FEEDS_OLD"),
                    encoding="utf-8")
    monkeypatch.setattr(reference, "PAGES", {copy: reference.settings_markdown})
    assert reference.stale() == [copy]


# --- the install guide runs as written ---------------------------------------------------------


def install_blocks() -> tuple[list[str], str]:
    """The install guide's blocks for the feeds account, and its server command."""
    blocks = fenced_blocks(INSTALL_GUIDE.read_text(encoding="utf-8"), "sh")
    unmarked = [block for before, block in blocks if before not in MARKERS]
    assert not unmarked, f"mark each sh block of the install guide with one of {MARKERS}: {unmarked}"
    runnable = [block for before, block in blocks if before == MARKERS[0]]
    servers = [block.strip() for before, block in blocks if before == MARKERS[1]]
    assert runnable and len(servers) == 1
    return runnable, servers[0]


def test_the_install_guide_marks_every_block_and_matches_the_unit():
    runnable, server = install_blocks()
    text = INSTALL_GUIDE.read_text(encoding="utf-8")
    home = re.search(r"useradd .*--home-dir (\S+) .*(feeds)$", text, re.M)
    assert home, "the guide creates the feeds account"
    unit = UNIT.read_text(encoding="utf-8")
    # The guide clones into the account's home and `cd feeds`: where the unit runs gunicorn.
    assert "cd ~" in runnable[0] and f"git clone {REPOSITORY}" in runnable[0]
    checkout = f"{home.group(1)}/feeds"
    assert f"WorkingDirectory={checkout}\n" in unit
    assert f"ExecStart={checkout}/.venv/bin/gunicorn wsgi:app\n" in unit
    assert "User=feeds\n" in unit and server.endswith(".venv/bin/gunicorn wsgi:app")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'Repository = "{REPOSITORY.removesuffix(".git")}"' in pyproject


@contextmanager
def process_group(command: list[str], cwd: Path, env: dict[str, str],
                  log: Path) -> Iterator[subprocess.Popen]:
    """Run `command` in its own process group, ended (all of it) on exit."""
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def poll(url: str, deadline: float) -> tuple[int, bytes]:
    """The first answer of `url` that is not a 503 (the first build), or the last one."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or time.monotonic() > deadline:
                return exc.code, exc.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.25)


def guide_environment(tmp_path: Path) -> tuple[Path, dict[str, str], int]:
    """A home for the feeds account, and the environment the install guide's
    blocks run in there: Debian's python3 first on PATH, git fetching the
    repository's address from a local copy of this checkout, gunicorn on a
    free loopback port with one worker."""
    origin = tmp_path / "origin"
    fresh_copy(origin)
    git = clean_environment(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
                            GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=origin, env=git, check=True)
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = clean_environment(HOME=str(home), GIT_CONFIG_COUNT="1",
                            GIT_CONFIG_KEY_0=f"url.{origin}.insteadOf", GIT_CONFIG_VALUE_0=REPOSITORY,
                            GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port}", WEB_CONCURRENCY="1")
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYENV_VERSION"):
        env.pop(name, None)
    if SYSTEM_PYTHON.exists():  # `python3` is Debian's own, as on a fresh machine
        env["PATH"] = os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin"])
    return home, env, port


@pytest.mark.slow
def test_the_install_guide_runs_as_written(tmp_path):
    """The blocks for the feeds account, in order, in one shell, in a home of
    their own, with Debian's python3 first on PATH. Two things differ from a
    real machine, neither in the commands: git fetches the repository's
    address from a local copy of this checkout (git's url.<base>.insteadOf),
    and gunicorn listens on a free loopback port (GUNICORN_CMD_ARGS, which
    gunicorn reads besides its flags) with one worker."""
    runnable, server = install_blocks()
    home, env, port = guide_environment(tmp_path)
    script = "set -euo pipefail\n" + "\n".join(runnable) + "\n" + server + "\n"
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "install.log"
    with process_group(["bash", "-c", script], home, env, log) as proc:
        deadline = time.monotonic() + 600  # the venv and pip install . come first
        while True:
            try:
                status, body = poll(base + "/healthz", time.monotonic() + 60)
                break
            except OSError:
                assert proc.poll() is None, log.read_text()[-4000:]
                assert time.monotonic() < deadline, log.read_text()[-4000:]
                time.sleep(1)
        assert status == 200 and b'"ok"' in body, (status, body, log.read_text()[-3000:])
        status, page = poll(base + "/", time.monotonic() + 30)
        seed = load_schedule(SEED_DATA)
        assert status == 200 and seed.series.title in lxml.html.fromstring(page).findtext(".//title")
        status, calendar = poll(base + "/calendar.ics", time.monotonic() + 30)
        events = icalendar.Calendar.from_ical(calendar).walk("VEVENT")
        assert {talk_id_of(event): str(event["UID"]) for event in events} == {
            talk.id: talk_uid(talk.id) for talk in seed.talks}
        # nginx in front, with nginx.md's configuration: the shipped file
        # serving the server's current build, gunicorn at this port.
        sites = sorted(home.rglob("sources/*/current/site"))
        assert len(sites) == 1, sites
        with nginx_serving(front_snippet(sites[0], port), tmp_path / "nginx") as (secure, context, plain):
            assert get(secure, context, "/healthz").status == 200
            calendar_answer = get(secure, context, "/calendar.ics", gzip=True)
            assert calendar_answer.body == calendar
            assert calendar_answer.one("Content-Type") == "text/calendar; charset=utf-8"
            assert calendar_answer.one("Content-Encoding") is None  # never gzipped: Outlook
            assert calendar_answer.one("X-Content-Type-Options") == "nosniff"
            rss = get(secure, context, "/rss.xml", gzip=True)
            assert rss.one("Content-Encoding") == "gzip" and rss.one("Vary") == "Accept-Encoding"
            token = "t0kenThatNobodyHas0123456789"
            assert get(secure, context, f"/members/{token}/calendar.ics").status == 404
            assert redirected(plain, "/calendar.ics") == (301, "https://talks.example.org/calendar.ics")
        access = (tmp_path / "nginx" / "access.log").read_text()
        assert "/rss.xml" in access and token not in access and "/members/" not in access
    output = log.read_text()
    assert "data/talks.yaml: OK" in output, output[-3000:]  # feeds validate's summary
    checkout = home / "feeds"
    if SYSTEM_PYTHON.exists():
        assert "home = /usr/bin" in (checkout / ".venv" / "pyvenv.cfg").read_text()



def unit_environment() -> dict[str, str]:
    """The unit's Environment= settings."""
    return dict(line.removeprefix("Environment=").split("=", 1)
                for line in UNIT.read_text(encoding="utf-8").splitlines()
                if line.startswith("Environment="))


@pytest.mark.slow
def test_the_server_runs_in_the_units_sandbox(tmp_path):
    """The unit makes the system read-only but for the state folder and the
    checkout's data/ (ProtectSystem=strict, ReadWritePaths=). Here the feeds
    account's home, with the checkout and its virtual environment, is mounted
    read-only in a mount namespace of its own, data/ writable, the state
    folder elsewhere; gunicorn runs with the unit's settings, serves the
    seed, and publishes an edit with its ledger recorded (/healthz ok)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("a read-only mount needs root and unshare(1)")
    runnable, _server = install_blocks()
    home, env, port = guide_environment(tmp_path)
    setup = subprocess.run(["bash", "-c", "set -euo pipefail\n" + "\n".join(runnable)], cwd=home,
                           env=env, capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]
    checkout = home / "feeds"
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    settings_of_unit = {**unit_environment(), "FEEDS_STATE_DIR": str(state)}
    assert settings_of_unit["FEEDS_STATE_DIR"] and "FEEDS_SITE_URL" in settings_of_unit
    sandbox = f"""set -euo pipefail
mount --make-rprivate /
mount --bind {home} {home}
mount -o remount,bind,ro {home}
mount --bind {checkout}/data {checkout}/data
mount -o remount,bind,rw {checkout}/data
if touch {checkout}/probe 2>/dev/null; then echo "the checkout is writable"; exit 1; fi
touch {checkout}/data/.probe && rm {checkout}/data/.probe
cd {checkout}
exec .venv/bin/gunicorn wsgi:app
"""
    base = f"http://127.0.0.1:{port}"
    with process_group(["unshare", "--mount", "bash", "-c", sandbox], checkout,
                       {**env, **settings_of_unit}, tmp_path / "server.log") as proc:
        deadline = time.monotonic() + 120
        while True:
            try:
                status, body = poll(base + "/healthz", time.monotonic() + 60)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / "server.log").read_text()[-3000:]
                time.sleep(0.5)
        assert status == 200 and b'"ok"' in body, (tmp_path / "server.log").read_text()[-3000:]
        seed = load_schedule(SEED_DATA)
        talk = seed.talks[0]
        data = checkout / "data" / "talks.yaml"
        edited = data.read_text(encoding="utf-8").replace(talk.title, talk.title + " (revised)", 1)
        replacement = data.with_name(".talks.yaml.edit")
        replacement.write_text(edited, encoding="utf-8")
        replacement.replace(data)  # one step, as an editor's save or git pull
        deadline = time.monotonic() + 60
        while (talk.title + " (revised)").encode() not in poll(base + "/talks.json", deadline)[1]:
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.5)
        status, body = poll(base + "/healthz", time.monotonic() + 30)
        assert status == 200 and b'"ok"' in body, body  # the ledger recorded the change
    ledger = (checkout / "data" / "talks.revisions.tsv").read_text(encoding="utf-8")
    assert any(line.startswith(talk.id + "\t") and "\t1\t" in line for line in ledger.splitlines())
    assert not (checkout / "probe").exists() and any(state.iterdir())

# --- nginx ------------------------------------------------------------------------------------------


def nginx() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    assert found, "the nginx tests need nginx: apt-get install -y nginx (scripts/test installs it)"
    return found


def wrapped(snippet: str, folder: Path) -> Path:
    """`snippet` (server blocks, as in /etc/nginx/sites-enabled/) inside a
    minimal configuration like Debian's nginx.conf, with every file nginx
    writes in `folder`, so that it runs as any user. The certificate paths
    become a throwaway certificate's."""
    certificates = make_certificates(folder)
    snippet = re.sub(r"(ssl_certificate\s+)\S+;", rf"\g<1>{certificates.cert_file};", snippet)
    snippet = re.sub(r"(ssl_certificate_key\s+)\S+;", rf"\g<1>{certificates.key_file};", snippet)
    temp = "\n".join(f"    {kind}_temp_path {folder}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    config = folder / "nginx.conf"
    config.write_text(f"""daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder}/access.log;
{temp}
{snippet}
}}
""")
    return config


@pytest.mark.parametrize("page, snippet", nginx_snippets(), ids=[page for page, _ in nginx_snippets()])
def test_every_nginx_snippet_passes_nginx_t(page, snippet, tmp_path):
    config = wrapped(snippet, tmp_path)
    done = subprocess.run([nginx(), "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                           "-c", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{page}: {done.stderr}"
    assert "test is successful" in done.stderr
    assert "[warn]" not in done.stderr, f"{page}: {done.stderr}"


def test_the_docs_have_both_nginx_configurations():
    pages = {page for page, _snippet in nginx_snippets()}
    assert pages == {"docs/operators/nginx.md", "docs/operators/static-hosting.md"}


NGINX_GUIDE = DOCS / "operators" / "nginx.md"
SHIPPED_NGINX = ROOT / "deploy" / "nginx" / "feeds.conf"


def front_snippet(site: Path, port: int) -> str:
    """nginx.md's configuration as the page says to make it: the shipped
    file (included in the page) with its root set to `site`, its upstream to
    gunicorn's `port` and its listen line replaced by the page's TLS lines,
    then the page's plain-http redirect."""
    text = NGINX_GUIDE.read_text(encoding="utf-8")
    blocks = [included(block) for _before, block in fenced_blocks(text, "nginx")]
    shipped = [block for block in blocks if block.rstrip("\n") == SHIPPED_NGINX.read_text().rstrip("\n")]
    assert len(shipped) == 1, "nginx.md includes deploy/nginx/feeds.conf once"
    redirect = [block for block in blocks if "return 301 https://" in block]
    tls = [block for _before, block in fenced_blocks(text, "text") if "ssl_certificate " in block]
    assert len(redirect) == 1 and len(tls) == 1
    config = shipped[0]
    for old, new in (("root /var/lib/feeds/sources/KEY/current/site;", f"root {site};"),
                     ("server 127.0.0.1:8000;", f"server 127.0.0.1:{port};"),
                     ("    listen 127.0.0.1:8080;\n", tls[0])):
        assert config.count(old) == 1, f"nginx.md names a line the shipped file lacks: {old!r}"
        assert f"`{old.strip()}`" in text or "KEY" in old, f"nginx.md says to change {old.strip()!r}"
        config = config.replace(old, new)
    return config + "\n" + redirect[0]


def static_snippet() -> str:
    found = [snippet for page, snippet in nginx_snippets() if "root /srv/feeds/site;" in snippet]
    assert len(found) == 1
    return found[0]


class Answer:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def one(self, name: str) -> str | None:
        values = self.all(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None


def get(port: int, context: ssl.SSLContext, path: str, gzip: bool = False) -> Answer:
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        headers = {"Host": "talks.example.org"}
        if gzip:
            headers["Accept-Encoding"] = "gzip"
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def redirected(port: int, path: str) -> tuple[int, str | None]:
    """The status and Location of a plain-http GET for talks.example.org."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": "talks.example.org"})
        response = connection.getresponse()
        return response.status, response.getheader("Location")
    finally:
        connection.close()


@contextmanager
def nginx_serving(snippet: str, folder: Path) -> Iterator[tuple[int, ssl.SSLContext, int]]:
    """nginx running `snippet` in the foreground, its https server on a free
    loopback port and its http redirect on another (the snippet's listen
    lines moved there, IPv6 ones dropped); yields both ports and a TLS
    context that trusts its throwaway certificate."""
    port, redirect = free_port(), free_port()
    snippet = snippet.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    snippet = snippet.replace("listen 80;", f"listen 127.0.0.1:{redirect};")
    snippet = re.sub(r"\n\s*listen \[::\]:\d+( ssl)?;", "", snippet)
    folder.mkdir()
    config = wrapped(snippet, folder)
    context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    context.check_hostname = False  # the certificate names 127.0.0.1; nginx's is talks.example.org
    with process_group([nginx(), "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(config)],
                       folder, clean_environment(), folder / "nginx.log") as proc:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(port, context, "/healthz")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    (folder / "error.log").read_text()
                time.sleep(0.1)
        yield port, context, redirect


def test_nginx_serves_the_static_site_as_the_server_would(tmp_path):
    """The static configuration over a site `feeds build` wrote: each route
    once with the Content-Type the server sends, the security headers on
    every response (nginx drops a server's add_header in a location with its
    own), framing allowed only for the embed, calendars never gzipped. Its
    listen lines move to a loopback port, its root to the built site."""
    site = tmp_path / "site"
    built = subprocess.run([str(Path(sys.executable).with_name("feeds")), "build", str(site),
                            "--data", str(SEED_DATA), "--site-url", "https://talks.example.org"],
                           cwd=tmp_path, env=clean_environment(), capture_output=True, text=True,
                           timeout=120)
    assert built.returncode == 0, built.stderr
    snippet = static_snippet().replace("root /srv/feeds/site;", f"root {site};")
    with nginx_serving(snippet, tmp_path / "nginx") as (port, context, plain):
        assert redirected(plain, "/calendar.ics") == (301, "https://talks.example.org/calendar.ics")
        snapshot = snapshot_for(load_schedule(SEED_DATA), site="https://talks.example.org")
        for route, resource in snapshot.routes.items():
            answer = get(port, context, route)
            assert answer.status == 200, route
            assert answer.one("Content-Type") == resource.media_type, route
            assert answer.one("X-Content-Type-Options") == "nosniff", route
            assert answer.one("Referrer-Policy") == "strict-origin-when-cross-origin", route
            framing = answer.one("Content-Security-Policy")
            assert framing == (None if resource.delivery.framable else "frame-ancestors 'none'"), route
            assert (answer.one("Access-Control-Allow-Origin") == "*") == resource.delivery.cors, route
            assert answer.one("Content-Disposition") == resource.headers(3600).get("Content-Disposition"), \
                route
            file = site / (route.lstrip("/") + ("index.html" if route.endswith("/") else ""))
            assert answer.body == file.read_bytes(), route
        talk = load_schedule(SEED_DATA).talks[0]
        # Literal expectations for what calendar apps and feed readers need.
        calendar = get(port, context, "/calendar.ics", gzip=True)
        assert calendar.one("Content-Type") == "text/calendar; charset=utf-8"
        assert calendar.one("Content-Encoding") is None  # Outlook fails on gzipped calendars
        assert "no-transform" in (calendar.one("Cache-Control") or "")
        download = get(port, context, f"/talks/{talk.id}.ics")
        assert download.one("Content-Disposition") == f'attachment; filename="{talk.id}.ics"'
        rss = get(port, context, "/rss.xml", gzip=True)
        # XML, as static hosts send any .xml: browsers then apply the feed's stylesheet
        assert rss.one("Content-Type") == "application/xml; charset=utf-8"
        assert rss.one("Content-Encoding") == "gzip" and rss.one("Vary") == "Accept-Encoding"
        assert rss.one("X-Content-Type-Options") == "nosniff"
        assert get(port, context, "/atom.xml").one("Content-Type") == "application/xml; charset=utf-8"
        embed = get(port, context, "/embed/")
        assert embed.one("Content-Security-Policy") is None and embed.one("X-Content-Type-Options")
        # The talk's address in calendars and feeds reaches its folder; a missing page gets 404.html.
        moved = get(port, context, f"/talks/{talk.id}")
        assert moved.status == 301 and moved.one("Location") == f"/talks/{talk.id}/"
        missing = get(port, context, "/no-such-page")
        assert missing.status == 404 and missing.body == (site / "404.html").read_bytes()
        assert missing.one("X-Content-Type-Options") == "nosniff"


# --- systemd ----------------------------------------------------------------------------------------


def test_the_systemd_unit_verifies(tmp_path):
    """`systemd-analyze verify` on the shipped unit, with its checkout's paths
    (/srv/feeds/feeds) moved to this checkout, whose .venv has gunicorn."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "the unit's test needs systemd-analyze: apt-get install -y systemd"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    assert gunicorn.exists()
    unit = UNIT.read_text(encoding="utf-8")
    unit = unit.replace("/srv/feeds/feeds/.venv/bin/gunicorn", str(gunicorn))
    unit = unit.replace("/srv/feeds/feeds", str(ROOT))
    assert "/srv/feeds" not in unit
    copy = tmp_path / "feeds.service"
    copy.write_text(unit, encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_systemd_analyze_notices_a_missing_executable(tmp_path):
    """The check above means something: the unit as shipped names a gunicorn
    that does not exist on this machine, and verify says so."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "the unit's test needs systemd-analyze: apt-get install -y systemd"
    copy = tmp_path / "feeds.service"
    shutil.copy(UNIT, copy)
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "/srv/feeds/feeds/.venv/bin/gunicorn" in done.stderr


# --- the README ----------------------------------------------------------------------------------


def test_the_readme_is_short_and_its_links_lead_to_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    local = [target.split("#", 1)[0] for target in targets if "://" not in target]
    assert "docs/subscribers/index.md" in local and "docs/operators/install.md" in local
    missing = [target for target in local if not (ROOT / target).exists()]
    assert not missing, missing
    # A newcomer learns why `feeds` alone is "command not found" after the quick start.
    assert ". .venv/bin/activate" in readme
