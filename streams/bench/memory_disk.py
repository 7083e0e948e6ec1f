"""Where a broker the benchmark starts keeps its data: in memory when the machine allows it.

Why: the broker shares the machine with the process under test, and a run writes gigabytes (each
mode and round preloads 600,000 events and produces as many outputs). On disk, the kernel writes
those pages back about 30 s after they were written (``vm.dirty_expire_centisecs``), i.e. while a
later mode is being measured, and that writeback's CPU and I/O wait land on whichever mode runs
then (a suspect for session 6's rounds in which the raw passthrough's CPU per event rose by 80%). A
tmpfs (``/dev/shm``) has no writeback. The report names the folder and says whether it is in
memory, so a run on disk is never mistaken for one in memory.

A bench killed with SIGKILL cannot stop its broker (detached by design, `streams.broker`) nor
delete its data: up to a few GiB of memory stay taken. Each place therefore names the bench that
owns it (``bench.pid``), and the next bench stops the brokers of places whose owner is gone and
deletes them (`sweep_abandoned`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: The usual memory-backed file system on Linux.
SHARED_MEMORY = Path("/dev/shm")
#: Room a run needs with every phase's topics deleted after it: the 1.5 M-event warm-up (~1 GiB)
#: and one phase's events and outputs, with margin.
NEEDED_BYTES = 4 * 1024**3
#: In a place: the pid of the bench that owns it.
OWNER_NAME = "bench.pid"
#: The places' folder names: in memory, and the work folder that holds one on disk.
MEMORY_PREFIX = "driftline-bench-kafka-"
WORK_PREFIX = "driftline-bench-"


@dataclass(frozen=True)
class DataPlace:
    """The folder chosen for the broker's data and why."""

    path: Path
    in_memory: bool
    reason: str


def broker_data_place(work_dir: Path, *, memory_root: Path = SHARED_MEMORY,
                      needed_bytes: int = NEEDED_BYTES) -> DataPlace:
    """A fresh folder under ``memory_root`` if it is writable with room, else ``work_dir/kafka``.

    The caller removes the folder when the run ends (``remove``).
    """
    if not os.access(memory_root, os.W_OK):
        return DataPlace(work_dir / "kafka", False, f"{memory_root} is not writable")
    free = shutil.disk_usage(memory_root).free
    if free < needed_bytes:
        return DataPlace(work_dir / "kafka", False,
                         f"{memory_root} has {free / 1024**3:.1f} GiB free, a run needs "
                         f"{needed_bytes / 1024**3:.0f} GiB")
    path = Path(tempfile.mkdtemp(prefix=MEMORY_PREFIX, dir=memory_root))
    return DataPlace(path, True, "in memory")


def claim(place: DataPlace) -> None:
    """Name this process as the place's owner (what `sweep_abandoned` checks)."""
    place.path.mkdir(parents=True, exist_ok=True)
    (place.path / OWNER_NAME).write_text(f"{os.getpid()}\n", encoding="utf-8")


def sweep_abandoned(stop: Callable[[Path], bool], *, memory_root: Path = SHARED_MEMORY,
                    temp_root: Path | None = None) -> list[Path]:
    """Stop the broker of every place whose owning bench is gone (``stop``: `streams.broker.stop`)
    and delete the place; returns the places swept."""
    temp_root = Path(tempfile.gettempdir()) if temp_root is None else temp_root
    candidates = [*memory_root.glob(f"{MEMORY_PREFIX}*"), *temp_root.glob(f"{WORK_PREFIX}*/kafka")]
    swept = [path for path in candidates if _abandoned(path)]
    for path in swept:
        if stop(path):
            log.warning("stopped the broker of a bench that did not end (its data: %s)", path)
        shutil.rmtree(path.parent if path.name == "kafka" else path, ignore_errors=True)
    return swept


def _abandoned(path: Path) -> bool:
    """Whether ``path`` names an owner that no longer runs (a place without one is left alone)."""
    try:
        owner = int((path / OWNER_NAME).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        return False
    return False


def remove(place: DataPlace) -> None:
    """Delete a folder made under the memory root (the work dir removes itself)."""
    if place.in_memory:
        shutil.rmtree(place.path, ignore_errors=True)
