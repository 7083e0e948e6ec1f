"""ONNX Runtime sessions for model versions, and the one way validated rows become model inputs.

Feeding convention (the graph's side of the model card): one graph input per feature, named as
the feature. Numeric features are ``tensor(float)`` of shape ``[N, 1]`` with null as NaN (imputed
inside the graph); categorical ones are ``tensor(string)`` of shape ``[N, 1]`` with null as
``MISSING_CATEGORY`` and a category the card does not list as ``OTHER_CATEGORY``. The graph
returns a label tensor and a ZipMap-free ``float[N, k]`` probability tensor, named as in the
card's ``ModelOutput``.

:func:`columns_from_rows` is the only place that convention is applied to rows, so serving code,
tests and notebooks feed ONNX Runtime exactly the same tensors for the same rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from driftline.models.card import MISSING_CATEGORY, OTHER_CATEGORY, FeatureSpec, ModelCard
from driftline.models.errors import CardError, IntegrityError, ModelLoadError, ScoringError, ScoringTimeout

log = logging.getLogger(__name__)

_ELEMENT_TYPES = {"numeric": "tensor(float)", "categorical": "tensor(string)"}
_SCORE_TYPES = ("tensor(float)", "tensor(double)")

Row = Mapping[str, float | str | None]

#: Runs batches that have a time limit: two threads, so one run that ignores its terminate flag
#: for a while does not hold up the next model's batch.
_RUNNER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="driftline-onnx")


def sha256_file(path: Path) -> str:
    """Hex sha256 digest of a file's bytes."""
    with path.open("rb") as artifact:
        return hashlib.file_digest(artifact, "sha256").hexdigest()


def columns_from_rows(card: ModelCard, rows: Sequence[Row]) -> dict[str, npt.NDArray[Any]]:
    """Build the ONNX feeding columns for already validated rows.

    A feature absent from a row counts as null. Null numbers become NaN (``float32[N, 1]``);
    null categories become ``MISSING_CATEGORY`` and categories the card does not list become
    ``OTHER_CATEGORY`` (``object[N, 1]`` of ``str``). Validation (types, ranges, null and unseen
    policies) is the caller's job; this only applies the feeding convention.
    """
    return {spec.name: _column(spec, rows) for spec in card.features}


def _column(spec: FeatureSpec, rows: Sequence[Row]) -> npt.NDArray[Any]:
    name = spec.name
    if spec.type == "numeric":
        # numpy reads None as NaN when the dtype is a float.
        return np.array([row.get(name) for row in rows], dtype=np.float32).reshape(-1, 1)
    encoding: dict[float | str | None, str] = {category: category for category in spec.categories}
    encoding[None] = MISSING_CATEGORY
    return np.array([encoding.get(row.get(name), OTHER_CATEGORY) for row in rows],
                    dtype=object).reshape(-1, 1)


@dataclass(frozen=True)
class Prediction:
    """Scores and labels for one batch, in the order of its rows.

    ``scores`` is the ``float64[N]`` probability of the card's positive class; ``labels`` the
    graph's predicted class per row, ``[N]``.
    """

    scores: npt.NDArray[np.float64]
    labels: npt.NDArray[Any]


def _session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    # The worker scales by partitions and processes; ORT thread pools inside each session would
    # oversubscribe the cores and add spin-wait latency to every micro-batch.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ORT writes its warnings straight to stderr, bypassing logging; keep only errors there.
    options.log_severity_level = 3
    return options


class OnnxModel:
    """One model version ready to score: an ONNX Runtime session and the card it serves.

    Build it with :meth:`load` (or ``Registry.load``). ``predict`` is safe to call from several
    threads; the session is created with one intra-op and one inter-op thread.
    """

    def __init__(self, session: ort.InferenceSession, card: ModelCard, path: Path) -> None:
        self.session = session
        self.card = card
        self.path = path

    def __repr__(self) -> str:
        return f"OnnxModel(name={self.card.name!r}, version={self.card.version!r}, path={str(self.path)!r})"

    @classmethod
    def load(cls, path: Path, card: ModelCard, *, expected_sha256: str | None) -> OnnxModel:
        """Load ``path`` into an ONNX Runtime session, after checking its sha256 when given.

        The bytes are read once, hashed and handed to ONNX Runtime, so the verified bytes are
        the loaded ones even if the file changes meanwhile.

        Raises
        ------
        IntegrityError
            The file's sha256 differs from ``expected_sha256``.
        ModelLoadError
            The file cannot be read, or ONNX Runtime refuses it.
        """
        try:
            artifact = path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"{_describe(card)}: cannot read {path}: {exc}",
                                 model=card.name, version=card.version) from exc
        if expected_sha256 is not None:
            _verify_digest(artifact, card, expected_sha256)
        try:
            session = ort.InferenceSession(artifact, sess_options=_session_options(),
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own pybind11 types (InvalidProtobuf, Fail, ...)
            raise ModelLoadError(f"{_describe(card)}: ONNX Runtime cannot load "
                                 f"{path}: {exc}", model=card.name, version=card.version) from exc
        log.info("loaded model %s version %s from %s", card.name, card.version, path)
        return cls(session, card, path)

    def check_inputs(self) -> None:
        """Check the graph's inputs against the card's feature spec.

        Raises
        ------
        CardError
            A feature is not an input, has the wrong element type or rank, or the graph requires
            an input the card does not declare; ``field`` names the offending feature or input.
        """
        inputs = {arg.name: arg for arg in self.session.get_inputs()}
        for spec in self.card.features:
            arg = inputs.get(spec.name)
            if arg is None:
                raise self._card_error(f"feature {spec.name!r} is not an input of the graph "
                                       f"(inputs: {sorted(inputs)})", spec.name)
            expected = _ELEMENT_TYPES[spec.type]
            if arg.type != expected:
                raise self._card_error(f"feature {spec.name!r} is {spec.type} in the card, so its input "
                                       f"must be {expected}, but the graph declares {arg.type}", spec.name)
            if not _is_column(arg.shape):
                raise self._card_error(f"input {spec.name!r} must have shape [N, 1], the graph declares "
                                       f"{arg.shape}", spec.name)
        extra = sorted(set(inputs) - set(self.card.feature_names))
        if extra:
            raise self._card_error(f"the graph requires inputs the card does not declare: {extra}", extra[0])

    def check_outputs(self) -> None:
        """Check that the graph has the card's label and probability outputs.

        Raises
        ------
        CardError
            A declared output is missing, or the score output is not a probability tensor
            (for instance a ZipMap sequence of maps); ``field`` is ``output.<attribute>``.
        """
        outputs = {arg.name: arg for arg in self.session.get_outputs()}
        declared = self.card.output
        for attribute, name in (("label_output", declared.label_output),
                                ("score_output", declared.score_output)):
            if name not in outputs:
                raise self._card_error(f"declared output {name!r} is not an output of the graph "
                                       f"(outputs: {sorted(outputs)})", f"output.{attribute}")
        scores = outputs[declared.score_output]
        if scores.type not in _SCORE_TYPES or len(scores.shape) != 2:
            raise self._card_error(f"output {scores.name!r} must be a float[N, k] probability tensor (export "
                                   f"without ZipMap), the graph declares {scores.type} {scores.shape}",
                                   "output.score_output")

    def predict(self, columns: Mapping[str, npt.NDArray[Any]], *,
                timeout_s: float | None = None) -> Prediction:
        """Score one batch given its feeding columns (see :func:`columns_from_rows`).

        Columns may be ``[N]`` or ``[N, 1]``; numeric ones are cast to ``float32``. A missing
        column or ragged lengths are caller bugs and raise ``ValueError``. With ``timeout_s`` the
        run happens on a helper thread and is told to stop (ONNX Runtime's terminate flag) when
        it takes longer.

        Raises
        ------
        ScoringTimeout
            The run did not finish within ``timeout_s``.
        ScoringError
            ONNX Runtime failed, or returned probabilities without the positive class column.
        """
        feed = self._feed(columns)
        rows = next(iter(feed.values())).shape[0]
        if rows == 0:
            return Prediction(scores=np.empty(0, dtype=np.float64), labels=np.empty(0, dtype=np.int64))
        output = self.card.output
        try:
            labels, probabilities = self._run([output.label_output, output.score_output], feed, timeout_s)
        except ScoringTimeout:
            raise
        except Exception as exc:  # every ORT failure type, see load()
            raise ScoringError(f"{_describe(self.card)}: ONNX Runtime failed "
                               f"on a batch of {rows}: {exc}", model=self.card.name,
                               version=self.card.version) from exc
        return self._prediction(np.asarray(labels), np.asarray(probabilities), rows)

    def _run(self, names: list[str], feed: dict[str, npt.NDArray[Any]], timeout_s: float | None) -> list[Any]:
        if timeout_s is None:
            return list(self.session.run(names, feed))
        options = ort.RunOptions()
        running = _RUNNER.submit(self.session.run, names, feed, options)
        try:
            return list(running.result(timeout=timeout_s))
        except FutureTimeout:
            options.terminate = True  # ORT checks it between kernels and ends the run with an error
            running.add_done_callback(lambda done: done.exception())
            raise ScoringTimeout(f"{_describe(self.card)}: ONNX Runtime did not finish a batch of "
                                 f"{len(next(iter(feed.values())))} within {timeout_s * 1000:.0f} ms",
                                 model=self.card.name, version=self.card.version) from None

    def _feed(self, columns: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        feed: dict[str, npt.NDArray[Any]] = {}
        for spec in self.card.features:
            if spec.name not in columns:
                raise ValueError(f"no column for feature {spec.name!r}")
            column = np.asarray(columns[spec.name]).reshape(-1, 1)
            feed[spec.name] = column.astype(np.float32 if spec.type == "numeric" else object, copy=False)
        lengths = {column.shape[0] for column in feed.values()}
        if len(lengths) > 1:
            raise ValueError(f"feeding columns have different lengths: {sorted(lengths)}")
        return feed

    def _prediction(self, labels: npt.NDArray[Any], probabilities: npt.NDArray[Any], rows: int) -> Prediction:
        positive = self.card.output.positive_index
        if probabilities.ndim != 2 or probabilities.shape[0] != rows or probabilities.shape[1] <= positive:
            raise ScoringError(f"{_describe(self.card)}: probabilities of "
                               f"shape {probabilities.shape} have no column {positive} for {rows} rows",
                               model=self.card.name, version=self.card.version)
        scores = probabilities[:, positive].astype(np.float64)
        return Prediction(scores=scores, labels=labels.reshape(-1))

    def _card_error(self, problem: str, field: str) -> CardError:
        return CardError(f"{_describe(self.card)}: {problem}", field=field,
                         model=self.card.name, version=self.card.version)


def _describe(card: ModelCard) -> str:
    version = "unregistered" if card.version is None else f"version {card.version}"
    return f"model {card.name!r} ({version})"


def _is_column(shape: Sequence[int | str | None]) -> bool:
    """``[N, 1]``, where ORT reports a free dimension as ``None`` or a symbol such as ``"N"``."""
    return len(shape) == 2 and (shape[1] == 1 or not isinstance(shape[1], int))


def _verify_digest(artifact: bytes, card: ModelCard, expected: str) -> None:
    actual = hashlib.sha256(artifact).hexdigest()
    if actual != expected.lower():
        raise IntegrityError(f"{_describe(card)}: artifact sha256 is {actual}, "
                             f"expected {expected}", model=card.name, version=card.version)
