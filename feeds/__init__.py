"""feeds: calendar and news feeds for a talk series."""

from .app import create_app

__all__ = ["create_app"]
