"""feeds: calendar and news feeds for a talk series.

``create_app`` is imported on first use, so that ``import feeds.model`` or
``feeds validate`` never loads Flask."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feeds.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from feeds.server.app import create_app

        return create_app
    raise AttributeError(f"module 'feeds' has no attribute {name!r}")
