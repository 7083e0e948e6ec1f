"""The Kafka clients' per-retry warnings are limited; driftline's own lines never are."""

from __future__ import annotations

import logging

import pytest

from driftline.streams.log_noise import RepeatLimiter, limit_client_noise


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, msg: str, level: int = logging.ERROR, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_retry_storm_passes_one_line_per_template_per_window() -> None:
    clock = Clock()
    limiter = RepeatLimiter(window_s=60, now=clock)
    template = "Unable connect to node with id %s: %s"
    passed = [limiter.filter(record("aiokafka.conn", template, logging.ERROR, 1, n)) for n in range(5000)]
    assert passed.count(True) == 1
    assert limiter.filter(record("aiokafka.cluster", "Unable to update metadata from %s"))  # another template

    clock.now = 61.0
    after = record("aiokafka.conn", template, logging.ERROR, 1, "refused")
    assert limiter.filter(after)
    assert "4999 more like this in the last 61 s" in after.getMessage()
    assert after.getMessage().startswith("Unable connect to node with id 1: refused")


@pytest.mark.parametrize(("name", "level"), [("driftline.streams.reachability", logging.WARNING),
                                             ("aiokafka.conn", logging.INFO),
                                             ("aiokafka.conn", logging.DEBUG)])
def test_own_lines_and_lines_below_warning_are_never_limited(name: str, level: int) -> None:
    limiter = RepeatLimiter(window_s=60, now=Clock())
    assert all(limiter.filter(record(name, "same text", level)) for _ in range(100))


def test_installs_once_on_every_handler_of_the_logger() -> None:
    logger = logging.getLogger("test_log_noise_install")
    handlers = [logging.NullHandler(), logging.NullHandler()]
    for handler in handlers:
        logger.addHandler(handler)
    try:
        limit_client_noise(logger)
        limit_client_noise(logger)
        assert [sum(isinstance(f, RepeatLimiter) for f in h.filters) for h in handlers] == [1, 1]
    finally:
        for handler in handlers:
            logger.removeHandler(handler)


@pytest.mark.parametrize(("debug", "level"), [(False, logging.WARNING), (True, logging.NOTSET)])
def test_aiokafka_info_lines_stay_out_unless_debugging(debug: bool, level: int) -> None:
    client = logging.getLogger("aiokafka")
    before = client.level
    client.setLevel(logging.NOTSET)
    try:
        limit_client_noise(logging.getLogger("test_log_noise_levels"), debug=debug)
        assert client.level == level
    finally:
        client.setLevel(before)
