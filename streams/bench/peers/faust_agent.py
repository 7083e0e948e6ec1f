"""A plain Faust agent that scores event by event: the peer a Faust user would write first.

``@app.agent(events) async def score(stream): async for ...: await predictions.send(...)``, with
the settings our own worker's Faust app uses (short sessions, linger, ``acks=all``, no web server,
the spinner off; see shared/KAFKA-AND-FAUST.md for why each matters), so what differs from
``driftline worker`` is the shape of the loop, not the configuration. Run with
``python -m driftline.streams.bench.peers.faust_agent --model PATH --name N --version V`` and
settings in ``DRIFTLINE_*``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import faust
import orjson
import uvloop

from driftline.streams.bench.peers.per_event import EventScorer, InvalidEventError, scorer_from_command_line
from driftline.streams.settings import Settings, load_settings

log = logging.getLogger(__name__)


def build_app(settings: Settings, scorer: EventScorer) -> faust.App:
    """The Faust app with its one agent: decode, score, send, next."""
    datadir = settings.state_dir / settings.app_id
    # Faust creates only the last folder; the state folder may not exist yet (the bench starts the
    # peers beside the workers, which would otherwise create it first).
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id, broker=f"kafka://{settings.broker}", store="memory://", autodiscover=False,
        datadir=str(datadir), web_enabled=False, topic_disable_leader=True,
        topic_replication_factor=1, table_standby_replicas=0,
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
        producer_linger=settings.producer_linger_ms / 1000,
        producer_max_batch_size=settings.producer_max_batch_bytes, producer_acks=-1,
        stream_wait_empty=False, consumer_auto_offset_reset="earliest",
    )
    events = app.topic(settings.topic_events, key_serializer="raw", value_serializer="raw")
    predictions = app.topic(settings.topic_predictions, key_serializer="raw", value_serializer="raw")

    @app.agent(events)
    async def score(stream: faust.StreamT[Any]) -> None:
        async for key, value in stream.items():
            try:
                prediction = scorer.predict(orjson.loads(value))
            except (InvalidEventError, orjson.JSONDecodeError) as exc:
                log.warning("skipped an event: %s", exc)
                continue
            await predictions.send(key=key, value=orjson.dumps(prediction))

    return app


def main(argv: list[str] | None = None) -> int:
    scorer = scorer_from_command_line(__spec__.name if __spec__ else "faust_agent", argv)
    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = build_app(settings, scorer)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), redirect_stdouts=False)
    worker.spinner = None  # at WARN levels it turns on DEBUG logging everywhere (~25% CPU)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
