"""Worker slots: which local state folder a worker owns, and the identity that goes with it.

Several workers may share a host and a ``state_dir``. Each takes the lowest slot whose lock it can
hold; the lock dies with the process, so a worker restarted after a SIGKILL takes the same slot,
finds its own RocksDB, and uses the same transactional id, which makes the broker abort the dead
worker's open transaction at once instead of after ``transaction_timeout_ms``.
"""

from __future__ import annotations

import fcntl
import os
import socket
from dataclasses import dataclass
from pathlib import Path

MAX_SLOTS = 256


class NoFreeSlot(Exception):  # noqa: N818 - reads as the condition it reports
    """Every slot of the state folder is held by a running worker."""


@dataclass(frozen=True)
class Slot:
    number: int
    path: Path
    #: Kept open for the process's life: closing it would release the lock.
    lock_fd: int

    def transactional_id(self, app_id: str, role: str) -> str:
        return f"{app_id}-{role}-{socket.gethostname()}-{self.number}"

    def release(self) -> None:
        os.close(self.lock_fd)


def claim_slot(state_dir: Path, app_id: str) -> Slot:
    root = state_dir / app_id
    root.mkdir(parents=True, exist_ok=True)
    for number in range(MAX_SLOTS):
        path = root / f"slot-{number}"
        path.mkdir(exist_ok=True)
        fd = os.open(path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(number, path, fd)
    raise NoFreeSlot(f"all {MAX_SLOTS} worker slots under {root} are held by running workers")
