"""A Quix Streams application that scores event by event: the librdkafka-based peer.

``app.dataframe(events).apply(score).to_topic(predictions)``, as Quix's documentation builds a
pipeline: its JSON (orjson) on both sides, its defaults for polling and committing (every 5 s,
at least once), and the producer lingering as long as driftline's does, with ``acks=all``. An event
that cannot be scored is logged and skipped through Quix's processing-error callback. Run with
``python -m driftline.streams.bench.peers.quix_app --model PATH --name N --version V`` and settings
in ``DRIFTLINE_*``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, cast

from driftline.streams.bench.peers.per_event import EventScorer, InvalidEventError, scorer_from_command_line
from driftline.streams.settings import Settings, load_settings

log = logging.getLogger(__name__)


def skip_invalid(exc: Exception, row: Any, logger: logging.Logger) -> bool:
    """Quix's ``on_processing_error``: an unscorable event is skipped, anything else stops the app."""
    if isinstance(exc, InvalidEventError):
        logger.warning("skipped an event: %s", exc)
        return True
    return False


def run(settings: Settings, scorer: EventScorer) -> None:
    """Build the application and run it until SIGTERM or SIGINT (Quix handles both)."""
    from quixstreams import Application  # imported here: pytest's doctest collection imports this module

    settings.state_dir.mkdir(parents=True, exist_ok=True)  # Quix makes only its own folder in it
    app = Application(
        broker_address=settings.broker, consumer_group=settings.group_id, auto_offset_reset="earliest",
        state_dir=str(settings.state_dir / settings.app_id), loglevel=cast(Any, settings.log_level.upper()),
        producer_extra_config={"linger.ms": settings.producer_linger_ms, "acks": "all"},
        on_processing_error=skip_invalid,
    )
    events = app.topic(settings.topic_events, value_deserializer="json")
    predictions = app.topic(settings.topic_predictions, value_serializer="json")
    app.dataframe(events).apply(scorer.predict).to_topic(predictions)
    app.run()


def main(argv: list[str] | None = None) -> int:
    scorer = scorer_from_command_line(__spec__.name if __spec__ else "quix_app", argv)
    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(settings, scorer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
