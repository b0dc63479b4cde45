"""mkdocs hooks (mkdocs.yml, `hooks:`): before every build, the generated
reference pages must match the code (scripts/docs_reference.py), so a
setting or a key of the data file added without regenerating them fails
`mkdocs build`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

_SCRIPT = Path(__file__).resolve().parent / "docs_reference.py"


def on_pre_build(config: Any) -> None:
    spec = importlib.util.spec_from_file_location("docs_reference", _SCRIPT)
    assert spec and spec.loader
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    stale = reference.stale()
    if stale:
        names = ", ".join(str(page.relative_to(reference.ROOT)) for page in stale)
        raise PluginError(f"{names}: stale; run python scripts/docs_reference.py")
