"""Who is scoring a run: an owner string that tells a live holder from a dead one or
from another process that got its pid, and the clock heartbeats are written with."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path


def now() -> float:
    return time.time()


STALE_SECONDS = 120  # a run whose holder on another host was silent this long is free again
HOST = socket.gethostname()


STALE_LOCAL = 3600.0  # a run whose holder on this host has not committed for an hour is free again


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace(":", "")[:12]
    except OSError:
        return ""


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot), "" where /proc does not say:
    with the boot id it tells a live holder from another process that got its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def new_owner() -> str:
    """Who is scoring: host, process, a nonce (two engines in one process differ), the boot
    and the process's start."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}:{_boot_id()}:{_started(os.getpid())}"


def owner_alive(owner: str, heartbeat: float | None) -> bool:
    """On this host, ask the OS whether the holder's process lives (a SIGKILLed run is
    free at once); elsewhere, trust a recent heartbeat."""
    host, pid, _, boot, started, *_ = owner.split(":") + ["", "", "", "", ""]
    if host == HOST and pid.isdigit():
        if heartbeat is not None and now() - heartbeat > STALE_LOCAL:
            return False  # silent for an hour: not scoring, whatever holds its pid now
        if boot and boot != _boot_id():
            return False  # the machine has restarted since
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not started or started == _started(int(pid))  # another process got the pid
    return heartbeat is not None and now() - heartbeat < STALE_SECONDS
