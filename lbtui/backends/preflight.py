"""A model file's first load, in a child process.

llama.cpp ends the process (abort, segfault) on some files whose header it trusts; the
header checks (models/gguf.py) refuse the cases known, and this catches the rest where a
one-line message can still be given: a file not loaded before is loaded once in a child
with the same settings; if the child dies, the parent refuses the file and the command's
cleanup runs (a new store is removed, as for any model refused at load). A file that
loaded is remembered by its path, size and modification time in lbtui's cache, so the
check costs one extra load per file, once.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from .. import paths
from ..errors import ModelError

TIMEOUT = 900.0  # seconds: a 70B model on a slow disk, mapped and checked


def _marker(path: Path) -> Path:
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:32]
    return paths.within(paths.cache_dir() / "loaded", key, "cache")


def check_loads(path: Path, settings: dict, *, where: str) -> None:
    """Refuse ``path`` in one line if llama.cpp cannot load it with ``settings`` (the
    LlamaBackend keyword arguments) without ending the process."""
    marker = _marker(path)
    if marker.exists():
        return
    cmd = [sys.executable, "-m", "lbtui.backends.preflight", str(path), json.dumps(settings)]
    try:
        got = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ModelError(
            where, f"loading {path} took more than {TIMEOUT:g} s in a check; is the disk that slow?"
        ) from None
    if got.returncode < 0:
        name = signal.Signals(-got.returncode).name
        raise ModelError(
            where,
            f"llama.cpp ended the process loading {path} ({name}): the file's header or tensors"
            " are not what it expects (a damaged or hand-made file?)",
        )
    if got.returncode != 0:
        said = [line for line in got.stderr.splitlines() if line.strip()]
        text = said[-1].removeprefix(f"{where}: ") if said else f"exit {got.returncode}"
        raise ModelError(where, text)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


def _main(argv: list[str]) -> int:
    from .llama import LlamaBackend

    path, settings = Path(argv[0]), json.loads(argv[1])
    try:
        LlamaBackend(path, **settings).close()
    except ModelError as e:
        print(e.message, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    os.environ.pop("LBTUI_VERBOSE", None)
    sys.exit(_main(sys.argv[1:]))
