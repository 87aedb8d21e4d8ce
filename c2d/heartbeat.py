"""The engine's heartbeat: its loop touches a file while it schedules; probes check that the
file is fresh. Kept free of heavy imports, so the check costs a bare Python start-up:

    python -m c2d.heartbeat        exit 0 when an engine on this host beat recently, else 1
"""

import os
import sys
import time
from pathlib import Path

HEARTBEAT = Path(os.environ.get("C2D_ENGINE_HEARTBEAT", "/tmp/c2d-engine-heartbeat"))  # noqa: S108
INTERVAL, STALE = 5.0, 60.0


def beat() -> None:
    HEARTBEAT.touch()


def alive() -> bool:
    try:
        return time.time() - HEARTBEAT.stat().st_mtime < STALE
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(0 if alive() else 1)
