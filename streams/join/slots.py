"""Worker slots: which local state folder a worker owns, and the identity that goes with it.

Several workers may share a host and a ``state_dir``. Each takes the lowest slot whose lock it can
hold; the lock dies with the process, so a worker restarted after a SIGKILL takes the same slot,
finds its own RocksDB, and uses the same transactional id, which makes the broker abort the dead
worker's open transaction at once instead of after ``transaction_timeout_ms``.

The id comes from a random identity written into the slot folder on first use: stable for the
slot, distinct between slots, state folders and hosts. (Host and slot number alone are not: two
workers on one host with different state folders would share an id and fence each other.)
"""

from __future__ import annotations

import fcntl
import os
import uuid
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
        return f"{app_id}-{role}-{self.identity}"

    @property
    def identity(self) -> str:
        path = self.path / "identity"
        if not path.exists():
            staged = path.with_suffix(".tmp")
            staged.write_text(uuid.uuid4().hex)
            staged.replace(path)  # the slot's lock is held: no other process writes here
        return path.read_text().strip()

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
