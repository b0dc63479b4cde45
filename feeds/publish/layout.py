"""The layout of the state folder of one data file with its settings
(FEEDS_STATE_DIR, by
default the app's instance folder, then sources/<key>: see
feeds.server.publisher.state_dir)::

    builds/<seq>-<version>/site/         the `feeds build` tree (feeds.publish.export)
    builds/<seq>-<version>/index.json    header sets, dates, deliveries, version, ...
    builds/<seq>-<version>/routes.sqlite route -> file, header set, ETag, date (feeds.publish.routes)
    builds/<seq>-<version>/context.json  what it is made from, by value (feeds.publish.made_from):
                                         for /embed?…, the members' calendar, a rebuild
    builds/<seq>-<version>/files.json    every site file's digest and date: the next build
                                         hard-links the files that stay the same
    builds/broken-<seq>-<version>/       a build that could not be read, set aside
    builds/.next-<pid>.tmp/site/         the next build's tree, linked ahead by the builder
                                         that stays (prepared.PreparedTree); taken by its next build
    current -> builds/<seq>-<version>    replaced with one rename: readers see old or new
    status.json                          the last build attempt (errors for /healthz)
    build.lock                           held by the one process that builds
    builder-<key>.lock                   held by the builder process that stays (one per origin)
    private/                             0700: the members' last good secrets

Shared by the builds (feeds.publish.builds), the tree prepared ahead
(feeds.publish.prepared), the status and the locks (feeds.publish.status)."""

from __future__ import annotations

import os
from pathlib import Path

BUILDS = "builds"
CURRENT = "current"
STATUS = "status.json"
LOCK = "build.lock"
PRIVATE = "private"
SITE = "site"
INDEX = "index.json"
ROUTES = "routes.sqlite"
CONTEXT = "context.json"
#: Every site file's digest and date: what the next build compares with, to
#: hard-link the files whose bytes did not change instead of writing them.
FILES = "files.json"


def builds_dir(state: Path) -> Path:
    return state / BUILDS


def current_name(state: Path) -> str | None:
    """The current build's directory name; one readlink."""
    try:
        return os.path.basename(os.readlink(state / CURRENT))
    except OSError:
        return None
