"""Where a broker the benchmark starts keeps its data: in memory when the machine allows it.

Why: the broker shares the machine with the process under test, and a run writes gigabytes (each
mode and round preloads 600,000 events and produces as many outputs). On disk, the kernel writes
those pages back about 30 s after they were written (``vm.dirty_expire_centisecs``), i.e. while a
later mode is being measured, and that writeback's CPU and I/O wait land on whichever mode runs
then (a suspect for session 6's rounds in which the raw passthrough's CPU per event rose by 80%). A
tmpfs (``/dev/shm``) has no writeback. The report names the folder and says whether it is in
memory, so a run on disk is never mistaken for one in memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: The usual memory-backed file system on Linux.
SHARED_MEMORY = Path("/dev/shm")
#: Room a run needs with every phase's topics deleted after it: the 1.5 M-event warm-up (~1 GiB)
#: and one phase's events and outputs, with margin.
NEEDED_BYTES = 4 * 1024**3


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
    path = Path(tempfile.mkdtemp(prefix="driftline-bench-kafka-", dir=memory_root))
    return DataPlace(path, True, "in memory")


def remove(place: DataPlace) -> None:
    """Delete a folder made under the memory root (the work dir removes itself)."""
    if place.in_memory:
        shutil.rmtree(place.path, ignore_errors=True)
