"""The recently opened studies, most recent first, kept in QSettings (at most ``LIMIT``, missing ones dropped)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings

LIMIT = 10
KEY = "studies/recent"


class RecentStudies:
    """A most-recent-first list of study paths (folders or files) stored as JSON under one QSettings key.

    Args:
        store: the settings to keep the list in.
        limit: how many to keep.
    """

    def __init__(self, store: QSettings, limit: int = LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.store, self.limit = store, limit

    def _stored(self) -> list[str]:
        try:
            values = json.loads(str(self.store.value(KEY, "[]") or "[]"))
        except json.JSONDecodeError:
            return []
        return [str(v) for v in values if isinstance(v, str)] if isinstance(values, list) else []

    def _write(self, values: list[str]) -> None:
        self.store.setValue(KEY, json.dumps(values[: self.limit]))
        self.store.sync()

    def paths(self) -> list[Path]:
        """The studies that still exist, most recent first (vanished ones are forgotten)."""
        stored = self._stored()
        existing = [v for v in stored if Path(v).exists()]
        if existing != stored:
            self._write(existing)
        return [Path(v) for v in existing]

    def add(self, path: str | Path) -> None:
        """Put ``path`` first (moving it up if it was already listed)."""
        value = str(Path(path).resolve())
        self._write([value] + [v for v in self._stored() if v != value])

    def clear(self) -> None:
        self._write([])
