"""Whether a process recorded by pid (a training worker, an export killed mid-way) still runs."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists (also one of another user's: signal 0 is refused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists; or a platform without signal 0
        return True
    return True
