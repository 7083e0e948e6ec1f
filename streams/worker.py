"""Running a worker: uvloop, logging, topics, then the Faust worker around the app."""

from __future__ import annotations

import asyncio
import gc
import logging

import faust
import uvloop

from driftline.streams.app import create_app
from driftline.streams.connection import (
    AUTHORIZATION_ERRORS,
    HandshakeRefused,
    check_handshake,
    not_authorized,
)
from driftline.streams.join.slots import NoFreeSlot, claim_slot
from driftline.streams.monitor_book import SilentDetectorError, check_window, monitor_settings
from driftline.streams.security import TransportSettingsError, transport_security
from driftline.streams.serving import CannotServe, load_served_models
from driftline.streams.settings import Settings, SettingsError
from driftline.streams.topics import ensure_topics

log = logging.getLogger(__name__)

#: Allocations (net of frees) between collections of the youngest generation: above the ~5
#: containers per event of a full batch (``batch_max_records`` 2,000), so cycles are still found
#: within a few batches while the batch's live objects are not scanned over and over.
YOUNG_COLLECTION_THRESHOLD = 25_000


def run_worker(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; Faust's worker stops the services (and the scoring agent) cleanly.

    Models load before anything touches Kafka: a worker that would refuse its artifact should
    say so at once, not after joining a consumer group. The same holds for security settings that
    do not fit together and for credentials the broker refuses: one line, exit code 3.
    """
    try:
        transport_security(settings)
        served = load_served_models(settings)
        monitor_settings(settings)  # a bad drift setting should stop us before Kafka, too
        if settings.monitors:
            check_window(settings, [m.binner.profile for m in served.values() if m.binner is not None])
    except (CannotServe, TransportSettingsError, SilentDetectorError) as exc:
        log.error("%s", exc)
        return 3
    except SettingsError as exc:
        log.error("%s", exc)
        return 2
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        asyncio.run(_prepare_kafka(settings))
    except HandshakeRefused as exc:
        log.error("%s", exc)
        return 3
    except AUTHORIZATION_ERRORS as exc:
        log.error("%s", not_authorized(settings, exc))
        return 3
    asyncio.set_event_loop(asyncio.new_event_loop())
    try:
        app = create_app(settings, served, claim_slot(settings.state_dir, settings.app_id))
    except (CannotServe, NoFreeSlot, OSError) as exc:
        log.error("%s", exc)
        return 3
    settle_heap()
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), redirect_stdouts=False)
    # The spinner raises the root logger to DEBUG at WARN levels, which costs ~25% CPU in the
    # hot path (every aiokafka debug call builds a record); we never want it.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0


def settle_heap() -> None:
    """Tune the cyclic garbage collector for a process that lives on short-lived batches.

    Everything loaded so far (faust, aiokafka, onnxruntime, River, the models) lives as long as
    the process; freezing it keeps the collector from re-scanning it in every full collection,
    which otherwise shows up as latency spikes of tens of milliseconds. A batch then allocates a
    few containers per event (the record, its JSON object, its features, the event) and frees
    them by reference counting when it is done: with the default threshold of 700 the youngest
    generation was collected several times per batch, scanning objects that were all alive, which
    took ~5% of a worker's CPU (1.2 µs per event; measured with gc callbacks in both bench modes).
    A threshold above a full batch's containers lets a batch come and go between collections.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


async def _prepare_kafka(settings: Settings) -> None:
    await check_handshake(settings)
    await ensure_topics(settings)
