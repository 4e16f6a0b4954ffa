"""Where lbtui keeps its files (XDG locations, overridable by environment)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError

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
    editable install, the package's _data (which the build copies them into) otherwise."""
    if (ROOT / "models.toml").is_file() and (ROOT / "tasks").is_dir():
        return ROOT
    from importlib.resources import files

    return Path(str(files("lbtui") / "_data"))


def bundled_tasks_dir() -> Path:
    return bundled_dir() / "tasks"


def bundled_models_file() -> Path:
    return bundled_dir() / "models.toml"


def real(path: Path, where: str) -> Path:
    """``path`` resolved (symbolic links and ``..`` followed); a link loop is refused in
    one line naming ``where`` (pathlib raises RuntimeError for it)."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as e:
        raise UserError(where, f"{path} cannot be followed: a loop of symbolic links ({e})") from None


def within(folder: Path, name: str | os.PathLike, where: str) -> Path:
    """``folder / name`` resolved (symbolic links and ``..`` followed), refused unless it
    stays inside ``folder``: every file lbtui writes into one of its folders (the cache,
    the data dir, a report's folder) goes through this, whatever a config file says."""
    base = real(Path(os.path.abspath(folder)), where)
    target = real(base / name, where)
    if target == base or not target.is_relative_to(base):
        raise UserError(where, f"{str(name)!r} would be written outside {base}; give a file name, not a path")
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: Path, pattern: str) -> list[Path]:
    """Remove what a killed lbtui left in ``folder``: entries whose name matches
    ``pattern`` (a regex with a ``pid`` group) and whose process is gone; another live
    process's temporaries are left alone."""
    import re
    import shutil

    gone = []
    if not folder.is_dir():
        return gone
    for p in folder.iterdir():
        m = re.fullmatch(pattern, p.name)
        if m and not _alive(int(m.group("pid"))):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def check_output_file(path: Path, option: str) -> None:
    """Refuse, before any work, an output file that cannot be written: a folder, a missing
    or read-only parent folder."""
    if path.is_dir():
        raise UserError(option, f"{path} is a folder; give a file name")
    parent = real(path, option).parent
    if not parent.is_dir():
        raise UserError(option, f"folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(option, f"{path} cannot be written (permission denied)")


def check_output_folder(path: Path, option: str) -> None:
    """Refuse, before any work, an output folder that is a file or cannot be created."""
    if path.exists() and not path.is_dir():
        raise UserError(option, f"{path} is a file, not a folder")
    parent = real(path, option).parent
    if not path.exists() and not parent.is_dir():
        raise UserError(option, f"folder {parent} does not exist")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise UserError(option, f"{path} cannot be written (permission denied)")
