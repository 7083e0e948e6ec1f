"""Scoring one event at a time, as a straightforward consumer of an ONNX model would.

The model's inputs are read from the graph itself (one ``[None, 1]`` tensor per feature, float or
string), an event is checked minimally (an id, a ``features`` object, numbers where the graph wants
floats, strings where it wants strings, null allowed), and ONNX Runtime runs once per event. The
prediction has the fields of driftline's own, so outputs weigh the same on the wire.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from driftline.models.card import MISSING_CATEGORY

_STRING_TENSOR = "tensor(string)"


class InvalidEventError(ValueError):
    """An event the peer cannot score (skipped and logged by the peers)."""


class EventScorer:
    """One ONNX Runtime session and what it needs to score a decoded event."""

    def __init__(self, model_path: Path, model: str, version: int) -> None:
        options = ort.SessionOptions()
        # The same single-threaded session as driftline's worker: neither side gets a thread pool.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_path), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self._inputs = [(i.name, i.type == _STRING_TENSOR) for i in self._session.get_inputs()]
        self._output = next(o.name for o in self._session.get_outputs() if "prob" in o.name)
        self._model, self._version = model, version

    def predict(self, event: Any) -> dict[str, Any]:
        """The prediction for one decoded event; ``InvalidEventError`` when it cannot be scored."""
        started = time.perf_counter()
        features = _features(event)
        feed = {name: self._tensor(features.get(name), is_string, name) for name, is_string in self._inputs}
        probabilities = self._session.run([self._output], feed)[0]
        score = float(probabilities[0][1])
        return {"id": event["id"], "ts": int(time.time() * 1000), "model": self._model,
                "version": self._version, "score": score, "label": int(score >= 0.5),
                "variant": "champion", "latency_ms": (time.perf_counter() - started) * 1000.0,
                "event_ts": event.get("ts"), "attributes": event.get("attributes")}

    @staticmethod
    def _tensor(value: object, is_string: bool, name: str) -> np.ndarray[Any, Any]:
        if is_string:
            if value is not None and not isinstance(value, str):
                raise InvalidEventError(f"{name} must be a string, got {value!r}")
            return np.array([[MISSING_CATEGORY if value is None else value]], dtype=object)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidEventError(f"{name} must be a number, got {value!r}")
        return np.array([[np.nan if value is None else value]], dtype=np.float32)


def _features(event: Any) -> Mapping[str, Any]:
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise InvalidEventError("an event is an object with a string id")
    features = event.get("features")
    if not isinstance(features, dict):
        raise InvalidEventError("an event's features are an object")
    return features


def scorer_from_command_line(prog: str, argv: list[str] | None = None) -> EventScorer:
    """``--model PATH --name NAME --version N``: what each peer is started with."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m {prog}")
    parser.add_argument("--model", type=Path, required=True, help="the ONNX artifact")
    parser.add_argument("--name", required=True, help="the model's name, echoed in predictions")
    parser.add_argument("--version", type=int, required=True, help="the model's version, echoed")
    args = parser.parse_args(argv)
    return EventScorer(args.model, args.name, args.version)
