"""ONNX Runtime sessions for model versions, and the one way validated rows become model inputs.

Feeding convention (the graph's side of the model card): one graph input per feature, named as
the feature. Numeric features are ``tensor(float)`` of shape ``[N, 1]`` with null as NaN (imputed
inside the graph); categorical ones are ``tensor(string)`` of shape ``[N, 1]`` with null as
``MISSING_CATEGORY`` and a category the card does not list as ``OTHER_CATEGORY``. A card with
``input_tensor`` instead feeds one ``tensor(float)`` of shape ``[N, k]``, the numeric features as
columns in card order. A classifier's graph returns a label tensor and a ZipMap-free
``float[N, k]`` probability tensor, a regressor's a ``float[N, 1]`` value tensor, named as in the
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


#: How far float32 rounding may put a probability outside [0, 1]: a random forest's averaged votes
#: come out 1 ULP above 1.0 (1.0000001192092896). Wider than that is a broken graph.
PROBABILITY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Prediction:
    """A batch's predictions, in the order of its rows.

    ``scores`` float64[N] is the one number per row that monitoring and rollout health follow: the
    positive class's probability (binary), the predicted class's probability (multi-class) or the
    predicted value (regression). Classifiers also have ``labels`` [N] (the graph's predicted class)
    and ``probabilities`` float64[N, k] (columns in the card's class order); regressors ``values``.
    """

    scores: npt.NDArray[np.float64]
    labels: npt.NDArray[Any] | None = None
    probabilities: npt.NDArray[np.float64] | None = None
    values: npt.NDArray[np.float64] | None = None


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
            The message says how to export (or declare) so that graph and card fit.
        """
        inputs = {arg.name: arg for arg in self.session.get_inputs()}
        if self.card.input_tensor is not None:
            self._check_input_tensor(inputs)
            return
        if len(inputs) == 1 and not set(inputs) & set(self.card.feature_names):
            self._refuse_single_tensor(next(iter(inputs.values())))
        for spec in self.card.features:
            arg = inputs.get(spec.name)
            if arg is None:
                raise self._card_error(f"feature {spec.name!r} is not an input of the graph "
                                       f"(inputs: {sorted(inputs)}); name the card's features as the "
                                       f"graph's inputs, or export one input per feature", spec.name)
            expected = _ELEMENT_TYPES[spec.type]
            if arg.type != expected:
                raise self._card_error(f"feature {spec.name!r} is {spec.type} in the card, so its input "
                                       f"must be {expected}, but the graph declares {arg.type}; fix the "
                                       f"feature's type or the export's initial_types", spec.name)
            if not _is_column(arg.shape):
                raise self._card_error(f"input {spec.name!r} must have shape [N, 1], the graph declares "
                                       f"{arg.shape}; export it with shape [None, 1]", spec.name)
        extra = sorted(set(inputs) - set(self.card.feature_names))
        if extra:
            raise self._card_error(f"the graph requires inputs the card does not declare: {extra}; add "
                                   f"them to the card's features", extra[0])

    def _refuse_single_tensor(self, arg: Any) -> None:
        width = arg.shape[1] if len(arg.shape) == 2 and isinstance(arg.shape[1], int) else "k"
        raise self._card_error(f"the graph has one input {arg.name!r} ({arg.type} {arg.shape}), not one "
                               f"per feature: add \"input_tensor\": \"{arg.name}\" to the card and list "
                               f"its {width} columns as features in column order", "input_tensor")

    def _check_input_tensor(self, inputs: Mapping[str, Any]) -> None:
        name, width = self.card.input_tensor, len(self.card.features)
        arg = inputs.get(name or "")
        if arg is None or len(inputs) != 1:
            raise self._card_error(f"input_tensor {name!r} must be the graph's only input (inputs: "
                                   f"{sorted(inputs)})", "input_tensor")
        if arg.type != "tensor(float)":
            raise self._card_error(f"input_tensor {name!r} must be tensor(float), the graph declares "
                                   f"{arg.type}; export with FloatTensorType", "input_tensor")
        columns = arg.shape[1] if len(arg.shape) == 2 else None
        if len(arg.shape) != 2 or (isinstance(columns, int) and columns != width):
            raise self._card_error(f"input_tensor {name!r} has shape {arg.shape}, but the card lists {width} "
                                   f"features: list one feature per column, in column order", "input_tensor")

    def check_outputs(self) -> None:
        """Check that the graph has the outputs the card's task reads.

        Raises
        ------
        CardError
            A declared output is missing, or has the wrong type or shape for the task (for
            instance a ZipMap sequence of maps); ``field`` is ``output.<attribute>``.
        """
        outputs = {arg.name: arg for arg in self.session.get_outputs()}
        declared = self.card.output
        names = (("value_output", declared.value_output),) if declared.task == "regression" else \
            (("label_output", declared.label_output), ("score_output", declared.score_output))
        for attribute, name in names:
            if name not in outputs:
                raise self._card_error(f"declared output {name!r} is not an output of the graph "
                                       f"(outputs: {sorted(outputs)}); set output.{attribute} to one of them",
                                       f"output.{attribute}")
        if declared.task == "regression":
            self._check_value_output(outputs[declared.value_output])
        else:
            self._check_score_output(outputs[declared.score_output])

    def _check_value_output(self, arg: Any) -> None:
        if arg.type not in _SCORE_TYPES or not (len(arg.shape) == 1 or _is_column(arg.shape)):
            raise self._card_error(f"output {arg.name!r} must be a float[N, 1] value tensor, the graph "
                                   f"declares {arg.type} {arg.shape}", "output.value_output")

    def _check_score_output(self, arg: Any) -> None:
        if arg.type not in _SCORE_TYPES or len(arg.shape) != 2:
            raise self._card_error(f"output {arg.name!r} must be a float[N, k] probability tensor (export "
                                   f"without ZipMap: skl2onnx options {{'zipmap': False}}), the graph "
                                   f"declares {arg.type} {arg.shape}", "output.score_output")
        columns, output = arg.shape[1], self.card.output
        expected = 2 if output.task == "binary" else len(output.classes) or None
        if isinstance(columns, int) and expected is not None and columns != expected:
            raise self._card_error(f"output {arg.name!r} has {columns} probability columns, but the card's "
                                   f"{output.task} output expects {expected} (output.classes: "
                                   f"{list(output.classes)})", "output.classes")

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
            ONNX Runtime failed, or returned outputs that do not fit the card's task.
        """
        feed = self._feed(columns)
        rows = next(iter(feed.values())).shape[0]
        output = self.card.output
        if rows == 0:
            return _empty_prediction(output.task)
        names = [output.value_output] if output.task == "regression" else [output.label_output,
                                                                            output.score_output]
        try:
            results = self._run(names, feed, timeout_s)
        except ScoringTimeout:
            raise
        except Exception as exc:  # every ORT failure type, see load()
            raise ScoringError(f"{_describe(self.card)}: ONNX Runtime failed "
                               f"on a batch of {rows}: {exc}", model=self.card.name,
                               version=self.card.version) from exc
        if output.task == "regression":
            return self._regression(np.asarray(results[0]), rows)
        return self._classification(np.asarray(results[0]), np.asarray(results[1]), rows)

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
        if self.card.input_tensor is not None:  # the card's order is the tensor's column order
            return {self.card.input_tensor: np.hstack(list(feed.values()))}
        return feed

    def _classification(self, labels: npt.NDArray[Any], probabilities: npt.NDArray[Any],
                        rows: int) -> Prediction:
        output = self.card.output
        width = 2 if output.task == "binary" else len(output.classes) or probabilities.shape[-1]
        if probabilities.ndim != 2 or probabilities.shape != (rows, width) or labels.size != rows:
            raise self._scoring_error(f"probabilities of shape {probabilities.shape} and {labels.size} "
                                      f"labels for {rows} rows, expected ({rows}, {width})")
        probabilities = probabilities.astype(np.float64)
        if not np.all(np.isfinite(probabilities)) or probabilities.min() < -PROBABILITY_TOLERANCE \
                or probabilities.max() > 1 + PROBABILITY_TOLERANCE:
            raise self._scoring_error(f"probabilities outside [0, 1] or not finite (from "
                                      f"{probabilities.min()} to {probabilities.max()})")
        np.clip(probabilities, 0.0, 1.0, out=probabilities)
        scores = probabilities[:, output.positive_index] if output.task == "binary" \
            else probabilities.max(axis=1)
        return Prediction(scores=scores, labels=labels.reshape(-1), probabilities=probabilities)

    def _regression(self, values: npt.NDArray[Any], rows: int) -> Prediction:
        if values.size != rows:
            raise self._scoring_error(f"{values.size} values for {rows} rows")
        predicted = values.reshape(-1).astype(np.float64)
        if not np.all(np.isfinite(predicted)):
            raise self._scoring_error("values that are not finite")
        return Prediction(scores=predicted, values=predicted)

    def _scoring_error(self, problem: str) -> ScoringError:
        return ScoringError(f"{_describe(self.card)}: ONNX Runtime returned {problem}",
                            model=self.card.name, version=self.card.version)

    def _card_error(self, problem: str, field: str) -> CardError:
        return CardError(f"{_describe(self.card)}: {problem}", field=field,
                         model=self.card.name, version=self.card.version)


def _describe(card: ModelCard) -> str:
    version = "unregistered" if card.version is None else f"version {card.version}"
    return f"model {card.name!r} ({version})"


def _empty_prediction(task: str) -> Prediction:
    none = np.empty(0, dtype=np.float64)
    if task == "regression":
        return Prediction(scores=none, values=none)
    return Prediction(scores=none, labels=np.empty(0, dtype=np.int64), probabilities=none.reshape(0, 0))


def _is_column(shape: Sequence[int | str | None]) -> bool:
    """``[N, 1]``, where ORT reports a free dimension as ``None`` or a symbol such as ``"N"``."""
    return len(shape) == 2 and (shape[1] == 1 or not isinstance(shape[1], int))


def _verify_digest(artifact: bytes, card: ModelCard, expected: str) -> None:
    actual = hashlib.sha256(artifact).hexdigest()
    if actual != expected.lower():
        raise IntegrityError(f"{_describe(card)}: artifact sha256 is {actual}, "
                             f"expected {expected}", model=card.name, version=card.version)
