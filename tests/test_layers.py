"""The layering, read from the import statements of feeds/*.py: data modules
never import formats or the web layer, and formats never import each other
nor the web layer. (pretalx gets this from folders; here a test keeps it.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "feeds"
FORMATS = {"ical", "syndication", "pages", "talks_json"}
WEB = {"app", "gunicorn_logger", "devserver", "flask", "werkzeug", "gunicorn"}
#: What one version of the data is, and the facts every layer shares.
DATA = {"model", "reader", "loader", "revisions", "timezones", "urls", "settings", "files",
        "secrets_file", "event_text", "calendar_links", "memo", "delivery", "editing", "papers",
        "schema"}


def imports(module: str) -> set[str]:
    """The feeds modules and top-level packages that `module` imports."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level and node.module:  # from .x import y
                found.add(node.module.split(".")[0])
            elif node.level:  # from . import x, y
                found |= {alias.name for alias in node.names}
            elif node.module:
                parts = node.module.split(".")
                found.add(parts[1] if parts[0] == "feeds" and len(parts) > 1 else parts[0])
    return found


def modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def test_every_module_has_a_layer():
    """A new module must be placed in a layer here, so the rules cover it."""
    placed = DATA | FORMATS | WEB | {"snapshot", "publisher", "members", "export", "cli",
                                     "accesslog", "organiser", "announce", "mailer", "published", "starter"}
    assert set(modules()) <= placed, set(modules()) - placed


@pytest.mark.parametrize("module", sorted(DATA & set(modules())))
def test_data_modules_import_no_format_and_no_web_layer(module):
    assert not imports(module) & (FORMATS | WEB | {"snapshot", "publisher", "members", "export"})


@pytest.mark.parametrize("module", sorted(FORMATS))
def test_formats_import_no_other_format_and_no_web_layer(module):
    assert not imports(module) & ((FORMATS - {module}) | WEB | {"snapshot", "publisher"})


def test_the_reader_sees_imports_of_every_form():
    """The check itself: it finds relative, package and absolute imports."""
    assert {"timezones", "urls", "model"} <= imports("talks_json") | imports("loader")
    assert "icalendar" in imports("ical") and "flask" in imports("app")
    assert "memo" in imports("ical") and "delivery" in imports("pages")


def test_importing_the_model_loads_no_web_server():
    import subprocess
    import sys

    code = ("import sys, feeds.model, feeds.loader, feeds.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'gunicorn', 'werkzeug')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
