"""`feeds init --hub DIR`: a new hub in an empty folder, with one example
series, ready for `feeds serve --data DIR` and `feeds validate DIR`.

    DIR/site.yaml                   the hub: its title, description and contact
    DIR/series/example.yaml         one ordinary series file (the `feeds init` template)
    DIR/series/example.revisions.tsv its ledger
    DIR/talks.schema.json           the series files' JSON Schema, for editors
    DIR/site.schema.json            site.yaml's
    DIR/.gitignore, DIR/README.md"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfoNotFoundError

from feeds.commands import starter
from feeds.data.hub import SERIES_FOLDER, SITE_FILE, parse_site
from feeds.data.loader import parse_schedule
from feeds.data.recorded import record
from feeds.data.revisions import ledger_path
from feeds.files import write_atomically
from feeds.formats import schema
from feeds.timezones import get_zone

EXAMPLE_SLUG = "example"
SCHEMA_FILE = "talks.schema.json"
SITE_SCHEMA_FILE = "site.schema.json"
SITE_TEMPLATE = """\
# yaml-language-server: $$schema=site.schema.json
# The hub: many series on one site. Each series is one ordinary series file
# in series/, named by its slug (series/<slug>.yaml is served at /<slug>/).
# Check every file with:  feeds validate .
# See it locally with:    feeds serve --data .
title: $title_value
description: >-
  What the series of this hub have in common, in a sentence or two.
contact: $contact_value
# The hub's own feeds' ids are minted under this domain or address (the
# talks keep their series' ids). Set it once, then never change it:
# id_authority: hub@example.org
# url: https://…  # the hub's own home page elsewhere, if any
"""
README = """\
# $title

A hub of talk series published with feeds: `site.yaml` is the hub,
`series/<slug>.yaml` one series each (served at `/<slug>/`), each with its
revision ledger beside it (`series/<slug>.revisions.tsv`: commit it with
the series file).

- `feeds validate .` checks every file and names each problem at its file:line;
- `feeds serve --data .` shows the site locally, updated as you edit;
- `feeds build site --data . --site-url https://…` writes the static site.

To add a series, copy `series/example.yaml` to `series/<slug>.yaml` (lowercase
letters, digits and `-`) and edit it. Tags (`tags: [topic, other-topic]` on a
series or a talk) get a page, a calendar and feeds of their own under `/tags/`.
"""
GITIGNORE = "# Local state of `feeds serve`\ninstance/\n*.lock\n"


def files(hub: starter.NewSeries, now: datetime) -> dict[str, str]:
    """Every file of the new hub folder, relative to it, with its text."""
    try:
        today = now.astimezone(get_zone(hub.timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):  # the loader reports it at its line
        today = now.date()
    example = starter.files(starter.NewSeries("Example series", hub.contact, hub.timezone,
                                              hub.time), today)
    series_text = example[starter.settings.DATA_FILE].replace(
        "$schema=talks.schema.json", f"$schema=../{SCHEMA_FILE}", 1)
    values = {"title": hub.title, "title_value": json.dumps(hub.title, ensure_ascii=False),
              "contact_value": json.dumps(hub.contact, ensure_ascii=False)}
    return {SITE_FILE: Template(SITE_TEMPLATE).substitute(values),
            f"{SERIES_FOLDER}/{EXAMPLE_SLUG}.yaml": series_text,
            SCHEMA_FILE: schema.render().decode(),
            SITE_SCHEMA_FILE: schema.render_site().decode(),
            "README.md": Template(README).substitute(values),
            ".gitignore": GITIGNORE}


def create(folder: Path, hub: starter.NewSeries, now: datetime) -> list[str]:
    """Write the new hub into `folder` (missing or empty); returns the files
    written. Raises starter.InitError, or InvalidData for options that make
    an invalid file (nothing is written then)."""
    if folder.exists() and not folder.is_dir():
        raise starter.InitError(f"{folder} is not a folder")
    if folder.is_dir():
        present = sorted(p.name for p in folder.iterdir() if p.name not in starter.ALLOWED)
        if present:
            raise starter.InitError(f"{folder} is not empty ({', '.join(present[:5])}); "
                                    "`feeds init --hub` starts a new hub in an empty folder")
    written = files(hub, now)
    parse_site(written[SITE_FILE], str(folder / SITE_FILE))  # InvalidData
    series_file = folder / SERIES_FOLDER / f"{EXAMPLE_SLUG}.yaml"
    schedule = parse_schedule(written[f"{SERIES_FOLDER}/{EXAMPLE_SLUG}.yaml"], str(series_file))
    for relative, text in written.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, text)
    recorded = record(series_file, now, text=series_file.read_text(encoding="utf-8"),
                      schedule=schedule)
    if recorded.errors:
        raise starter.InitError("\n".join(recorded.errors))
    return [*written, str(ledger_path(series_file).relative_to(folder))]
