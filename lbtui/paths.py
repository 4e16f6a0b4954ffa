"""Where lbtui keeps its files (XDG locations, overridable by environment)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / default


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / "lbtui"


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / "lbtui"


def cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache") / "lbtui"


def default_db() -> Path:
    """--db, else LBTUI_DB, else the user data dir."""
    env = os.environ.get("LBTUI_DB")
    return Path(env) if env else data_dir() / "lbtui.db"


def bundled_dir() -> Path:
    """The folder holding models.toml and tasks/: the source tree in a checkout or an
    editable install, <prefix>/share/lbtui in a wheel install."""
    if (ROOT / "models.toml").is_file() and (ROOT / "tasks").is_dir():
        return ROOT
    import sys

    return Path(sys.prefix) / "share" / "lbtui"


def bundled_tasks_dir() -> Path:
    return bundled_dir() / "tasks"


def bundled_models_file() -> Path:
    return bundled_dir() / "models.toml"
