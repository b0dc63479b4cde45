"""`feeds init DIR`: a new series in an empty folder, ready for `feeds serve`,
`feeds validate` and GitHub Pages.

It writes the commented data file with the series and one example talk, the
data file's JSON Schema beside it (for editors), the ledger, a .gitignore, a
README stub, requirements.txt (where CI installs feeds from) and the GitHub
Actions workflow, the same file the feeds repository publishes with."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import metadata, resources
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfoNotFoundError

from feeds import settings
from feeds.data.loader import parse_schedule
from feeds.data.revisions import ledger_path, update_ledger
from feeds.files import write_atomically
from feeds.formats import schema
from feeds.timezones import get_zone

#: Files that may already be in the folder (``git init`` first is fine).
ALLOWED = {".git"}
WORKFLOW = ".github/workflows/publish.yml"
#: What each template of feeds/new_series becomes, relative to DIR.
TEMPLATES = {
    "talks.yaml": settings.DATA_FILE,
    "README.md": "README.md",
    "gitignore": ".gitignore",
    "publish.yml": WORKFLOW,
}
SCHEMA_FILE = "data/talks.schema.json"  # named by the data file's first line
REQUIREMENTS = "requirements.txt"
PLACEHOLDER_CONTACT = "organisers@example.org"
#: What requirements.txt says when it cannot name where feeds comes from.
LOCAL_COPY = "This copy of feeds was installed from a local folder"


class InitError(Exception):
    """The series cannot be started there."""


@dataclass(frozen=True)
class NewSeries:
    """What `feeds init` asks for; everything else is an example to edit."""

    title: str
    contact: str = PLACEHOLDER_CONTACT
    timezone: str = "UTC"
    time: str = "17:00"


def template(name: str) -> str:
    """One of the files in feeds/new_series."""
    return resources.files("feeds").joinpath("new_series").joinpath(name).read_text(encoding="utf-8")


def title_from_folder(folder: Path) -> str:
    """A first title from the folder's name: ``ml-reading-group`` -> ``Ml reading group``."""
    words = re.sub(r"[-_.]+", " ", folder.resolve().name).strip()
    return words[:1].upper() + words[1:] if words else "Talk series"


def example_date(today: date) -> date:
    """A Monday two to three weeks away: the example talk is upcoming."""
    start = today + timedelta(days=14)
    return start + timedelta(days=(7 - start.weekday()) % 7)


def _yaml_string(value: str) -> str:
    """`value` as a YAML double-quoted scalar (every JSON string is one)."""
    return json.dumps(value, ensure_ascii=False)


def repository() -> str:
    """feeds' git repository, as its installed metadata names it (the
    Repository of pyproject.toml's [project.urls]); "" where feeds was never
    installed, and so has no metadata."""
    try:
        urls = metadata.metadata("feeds").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return ""
    named = dict(entry.split(", ", 1) for entry in urls if ", " in entry)
    return named.get("Repository", "")


def requirements() -> str:
    """requirements.txt: where CI installs feeds from. A copy installed from
    git or an archive names that source (PEP 610's direct_url.json); any
    other (a release from PyPI, a local folder, an editable checkout) names
    this release's tag in feeds' repository."""
    head = "# What CI (.github/workflows/publish.yml) installs to build the site.\n"
    try:
        installed = metadata.distribution("feeds")
        origin, version = json.loads(installed.read_text("direct_url.json") or "{}"), installed.version
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        origin, version = {}, ""
    vcs = origin.get("vcs_info", {})
    url = origin.get("url", "")
    if vcs.get("vcs") == "git" and url:
        return head + f"feeds @ git+{url}@{vcs.get('commit_id') or vcs.get('requested_revision')}\n"
    if url.startswith(("https://", "http://")):
        return head + f"feeds @ {url}\n"
    home = repository()
    if home and version:
        return head + f"# feeds {version}, the release tagged v{version}; to upgrade, change the tag.\n" \
                      f"feeds @ git+{home}@v{version}\n"
    return head + (f"# {LOCAL_COPY}, which CI cannot\n"
                   "# reach: replace the next line with the address of feeds' git repository,\n"
                   "# e.g.  feeds @ git+https://github.com/OWNER/feeds@COMMIT\n"
                   f"feeds{'==' + version if version else ''}\n")


def files(series: NewSeries, today: date) -> dict[str, str]:
    """Every file of the new folder, relative to it, with its text."""
    talk_date = example_date(today)
    values = {
        "title": series.title,
        "title_value": _yaml_string(series.title),
        "contact_value": _yaml_string(series.contact),
        "timezone_value": _yaml_string(series.timezone),
        "time_value": _yaml_string(series.time),
        "talk_id": f"{talk_date.isoformat()}-example",
        "talk_date": talk_date.isoformat(),
    }
    result = {target: Template(template(name)).substitute(values) if name.endswith(".yaml")
              or name == "README.md" else template(name)
              for name, target in TEMPLATES.items()}
    result[SCHEMA_FILE] = schema.render().decode()
    result[REQUIREMENTS] = requirements()
    return result


def create(folder: Path, series: NewSeries, now: datetime) -> list[str]:
    """Write the new series into `folder` (missing or empty); returns the files
    written. Raises InitError, or InvalidData if the options make an invalid file."""
    if folder.exists() and not folder.is_dir():
        raise InitError(f"{folder} is not a folder")
    if folder.is_dir():
        present = sorted(p.name for p in folder.iterdir() if p.name not in ALLOWED)
        if present:
            raise InitError(f"{folder} is not empty ({', '.join(present[:5])}"
                            f"{', …' if len(present) > 5 else ''}); `feeds init` starts a new "
                            "series in an empty folder")
    try:
        today = now.astimezone(get_zone(series.timezone)).date()
    except ZoneInfoNotFoundError:  # the loader reports it at its line
        today = now.date()
    written = files(series, today)
    data_file = folder / settings.DATA_FILE
    schedule = parse_schedule(written[settings.DATA_FILE], str(data_file))  # InvalidData
    for relative, text in written.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, text)
    update = update_ledger(ledger_path(data_file), schedule, now)
    if update.errors:
        raise InitError("\n".join(update.errors))
    return [*written, str(ledger_path(data_file).relative_to(folder))]

