"""Which events a canary answers: a stable hash of the event id against the canary's share.

The same id lands on the same side on every worker, in every batch and after every redelivery,
because the decision depends on nothing but the id: Kafka's murmur2 of its bytes (the compiled
kernel the sender already uses for partitions) taken modulo `BUCKETS`. A share of 0.05 sends
ids in buckets 0-499 of 10,000 to the canary. Raising the share keeps every id that was on the
canary there (its bucket is still below the bar), so a ramp never flips an event back and forth.

>>> mask = canary_mask([f"evt-{n}".encode() for n in range(20_000)], 0.1)
>>> round(float(mask.mean()), 2)
0.1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from driftline import ext

#: Resolution of a share: 1/10,000 of the traffic.
BUCKETS = 10_000


def canary_mask(event_ids: Sequence[bytes], share: float) -> npt.NDArray[np.bool_]:
    """For each id, whether the canary answers it (``share`` of ids, always the same ones)."""
    if not event_ids or share <= 0.0:
        return np.zeros(len(event_ids), dtype=np.bool_)
    buckets = np.asarray(ext.key_partitions(list(event_ids), BUCKETS))
    mask: npt.NDArray[np.bool_] = buckets < round(share * BUCKETS)
    return mask
