"""The layering, read from the import statements of every module in feeds/:
imports run commands -> server -> publish -> formats -> data -> the shared
top modules, never back; the document formats do not import each other; only
the server (and the commands above it) load a web framework. Each package's
__init__ states its own rule."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys

import pytest

from helpers import ROOT

PACKAGE = ROOT / "feeds"
#: The rooms, lowest first: a module may import its own room and the ones before it.
ROOMS = ("", "data", "formats", "publish", "server", "commands")
#: One document each; they share only the bases of formats/ (announcement's
#: attachment is a talk's .ics, so it may read ical).
DOCUMENT_FORMATS = {"ical", "syndication", "pages", "talks_json", "schema"}
ALLOWED_FORMAT_IMPORTS = {"announcement": {"ical"}}
#: The views across a hub's series are made of its series' documents, so
#: they alone may import several document formats (and each other).
HUB_VIEWS = {"hub", "hub_calendars", "hub_feeds", "hub_json", "hub_pages", "hub_parts"}
WEB = {"flask", "werkzeug", "gunicorn", "gevent"}


def module_names() -> list[str]:
    """Every module as a dotted path below feeds, e.g. 'formats.ical'."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        names.append(".".join(parts))
    return names


def room(module: str) -> str:
    """The package a module lives in ('' for the shared top modules)."""
    return module.split(".")[0] if "." in module else ""


def imports(module: str) -> set[str]:
    """What `module` imports: feeds modules as 'room.name' (or 'name' at the
    top), other packages by their top-level name. Imports inside functions count."""
    tree = ast.parse((PACKAGE / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                found.add(".".join(parts[1:]) if parts[0] == "feeds" else parts[0])
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{module}: relative import (use 'from feeds... import')"
            parts = (node.module or "").split(".")
            if parts[0] != "feeds":
                found.add(parts[0])
                continue
            below = ".".join(parts[1:])
            for alias in node.names:
                candidate = f"{below}.{alias.name}" if below else alias.name
                found.add(candidate if candidate in module_names() or candidate in ROOMS else below)
    return {name for name in found if name}


def feeds_imports(module: str) -> set[str]:
    names = set(module_names())
    return {name for name in imports(module) if name in names or name in ROOMS}


@pytest.mark.parametrize("module", module_names())
def test_imports_run_downward_only(module):
    mine = ROOMS.index(room(module)) if module.split(".")[0] in ROOMS else 0
    upward = {name for name in feeds_imports(module)
              if ROOMS.index(room(name) if "." in name else (name if name in ROOMS else "")) > mine}
    if module == "__init__":  # create_app, imported lazily for `feeds.create_app`
        upward -= {"server.app"}
    if module == "__main__":
        upward -= {"commands.cli"}
    assert not upward, f"feeds/{module}: imports {sorted(upward)} from a room above its own"


@pytest.mark.parametrize("module", sorted(m for m in module_names() if room(m) == "formats"
                                          and m.split(".")[1] in DOCUMENT_FORMATS | {"announcement"}))
def test_document_formats_do_not_import_each_other(module):
    name = module.split(".")[1]
    others = {f"formats.{f}" for f in DOCUMENT_FORMATS - {name} - ALLOWED_FORMAT_IMPORTS.get(name, set())}
    assert not feeds_imports(module) & others


@pytest.mark.parametrize("module", sorted(m for m in module_names() if room(m) == "formats"
                                          and m.split(".")[1] not in HUB_VIEWS))
def test_only_the_hub_views_combine_the_document_formats(module):
    name = module.split(".")[1]
    combined = {f"formats.{f}" for f in DOCUMENT_FORMATS - {name}} | {f"formats.{h}" for h in HUB_VIEWS}
    allowed = {f"formats.{f}" for f in ALLOWED_FORMAT_IMPORTS.get(name, set())}
    assert not feeds_imports(module) & combined - allowed


@pytest.mark.parametrize("module", [m for m in module_names()
                                    if room(m) in ("", "data", "formats", "publish")])
def test_below_the_server_no_web_framework_is_loaded(module):
    if module == "__init__":
        return
    assert not imports(module) & WEB, f"feeds/{module} imports a web framework"


#: Modules that run code named by the data they read: a published build
#: stores what it is made from as data (JSON), never as a pickle.
CODE_LOADERS = {"pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}


@pytest.mark.parametrize("module", module_names())
def test_nothing_is_unpickled(module):
    assert not imports(module) & CODE_LOADERS, f"feeds/{module} imports {imports(module) & CODE_LOADERS}"


@pytest.mark.parametrize("package", ROOMS[1:])
def test_every_package_states_its_rule(package):
    doc = importlib.import_module(f"feeds.{package}").__doc__ or ""
    assert "import" in doc and len(doc.split()) > 20, f"feeds/{package}/__init__.py must state its rule"


def test_the_reader_sees_imports_of_every_form():
    """The check itself: it finds module, package and absolute imports."""
    assert {"timezones", "urls", "model"} <= imports("formats.talks_json") | imports("data.loader")
    assert "icalendar" in imports("formats.ical") and "flask" in imports("server.app")
    assert {"formats.memo", "formats.delivery"} <= imports("formats.ical")
    assert "server.devserver" in imports("commands.cli")


def test_importing_the_model_loads_no_web_server():
    code = ("import sys, feeds.model, feeds.data.loader, feeds.commands.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'gunicorn', 'werkzeug')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
