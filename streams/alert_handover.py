"""The performance agent's open alerts across owners: estimates' floors and fairness.

The agent publishes its ``performance`` alerts from detector ``cbpe`` and its ``fairness`` alerts
through the open-alert ledger (`streams.alert_ledger`), so the alert-state topic knows which are
open. When a model's outcomes partition moves (a SIGKILL, a restart, a rebalance) the new owner
builds fresh monitors, and two things must hold, as they do for drift alerts:

* an alert that is still true stays one alert: the new owner catches up with the ledger before it
  judges the model's first record, so its ``raised`` goes out as ``updated``;
* an alert that is no longer true is resolved: once the monitor behind a dedup key has judged a
  full window of its own (`detectors.alerting.confirming_evaluations`) without opening it, the
  last owner's open alert is resolved with the reason. Never before: a fresh window judges
  nothing, and resolving early would page ``resolved`` then ``raised`` for one incident.

Each dedup key is settled once per take-over; a model that moves away and back is taken over
again. Limit: an open alert whose stream the new owner does not judge at all (its configuration
dropped every fairness metric of that stream) is not settled here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from driftline.streams.alert_ledger import MonitorLedger

log = logging.getLogger(__name__)


class AlertStream(Protocol):
    """What settling needs of a monitor (`EstimatedPerformanceMonitor`, `FairnessMonitor`)."""

    model: str

    @property
    def dedup_key(self) -> str: ...

    @property
    def is_open(self) -> bool: ...

    @property
    def judged_a_full_window(self) -> bool: ...

    @property
    def n_seen(self) -> int: ...


class AlertHandover:
    """Takes models over from the ledger and settles what their last owner left open."""

    def __init__(self, ledger: MonitorLedger) -> None:
        self.ledger = ledger
        self._held: set[str] = set()
        #: Settled dedup keys, with their model (what `release` forgets).
        self._settled: dict[str, str] = {}

    async def take(self, model: str) -> None:
        """Before the first record of ``model`` this agent judges, read what its last owner wrote."""
        if model in self._held:
            return
        await self.ledger.started.wait()
        self._held.add(model)
        # The ledger's catch-up read (not a sync to the end offsets), for the reason in `take_over`.
        await self.ledger.catch_up()

    def release(self, models: Iterable[str]) -> None:
        """``models`` moved to another owner: taking them back later is a new take-over."""
        gone = set(models)
        self._held -= gone
        self._settled = {key: model for key, model in self._settled.items() if model not in gone}

    async def settle(self, streams: Iterable[AlertStream]) -> list[str]:
        """Resolve the open alerts of ``streams`` that their monitor, having judged a full window,
        does not hold open; returns their dedup keys."""
        resolved = []
        for stream in streams:
            key = stream.dedup_key
            if key in self._settled or not stream.judged_a_full_window:
                continue
            self._settled[key] = stream.model
            if stream.is_open or not self.ledger.is_open(key):
                continue  # confirmed (its raise went out as an update), or nothing was open
            log.warning("resolving %s: its new owner did not confirm it", key)
            await self.ledger.resolve(self.ledger.entries[key], f"not confirmed by its new owner after "
                                                                 f"{stream.n_seen} events")
            resolved.append(key)
        return resolved
