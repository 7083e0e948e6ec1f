"""The performance agent's book: monitors built on first outcomes, and forgotten with their series
when the model's outcomes partition moves to another worker."""

from __future__ import annotations

from pathlib import Path

from driftline.models.registry import Registry
from driftline.streams.metrics import PERFORMANCE, PERFORMANCE_FLOOR, forget_performance, record_performance
from driftline.streams.performance_agent import PerformanceBook, decode_outcomes, performance_settings
from driftline.streams.settings import Settings


def series(model: str) -> set[tuple[str, ...]]:
    return {tuple(s.labels.values()) for gauge in (PERFORMANCE, PERFORMANCE_FLOOR)
            for family in gauge.collect() for s in family.samples if s.labels["model"] == model}


def test_a_forgotten_model_stops_exporting_its_series(tmp_path: Path) -> None:
    settings = Settings(perf_window_size=50, perf_evaluate_every=10, perf_floors=("accuracy=0.5",))
    book = PerformanceBook(performance_settings(settings), Registry(tmp_path / "none"))
    for model in ("moved", "stays"):
        book.feed({"model": model, "version": 1, "variant": "champion", "task": "binary",
                   "y_true": [0, 1] * 30, "y_pred": [0, 1] * 30, "score": [0.1, 0.9] * 30})
    for snapshot in book.snapshots():
        record_performance(snapshot, book.settings.floors)
    assert ("moved", "1", "champion", "accuracy") in series("moved") and series("stays")

    forget_performance(book.forget({"moved"}))
    assert series("moved") == set() and series("stays")
    assert [key[0] for key in book.monitors] == ["stays"]


def test_outcomes_records_are_checked_before_they_are_judged() -> None:
    assert decode_outcomes(b"{") is None
    assert decode_outcomes(b'{"model": "m", "version": 1, "variant": "c", "task": "binary", '
                           b'"y_true": [1], "y_pred": [1, 0]}') is None  # lengths disagree
