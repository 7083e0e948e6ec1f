"""A batch that ONNX Runtime does not finish in time is stopped and reported as ``ScoringTimeout``;
one that makes it fail is a ``ScoringError``; the session serves the next batch either way."""

from __future__ import annotations

import time

import numpy as np
import pytest

from driftline.models.errors import ScoringError, ScoringTimeout
from driftline.models.runtime import OnnxModel
from tests.faulty_model import HANG, RAISE, faulty_card, faulty_graph


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    path = faulty_graph(tmp_path_factory.mktemp("faulty") / "model.onnx")
    return OnnxModel.load(path, faulty_card(), expected_sha256=None)


def test_an_ordinary_batch_finishes_within_its_limit(faulty: OnnxModel) -> None:
    prediction = faulty.predict({"x": np.array([[3.0], [5.0]])}, timeout_s=5.0)
    assert prediction.scores.tolist() == pytest.approx([0.3, 0.3])


def test_a_batch_past_its_limit_is_stopped_and_the_session_serves_on(faulty: OnnxModel) -> None:
    started = time.monotonic()
    with pytest.raises(ScoringTimeout, match="within 200 ms"):
        faulty.predict({"x": np.array([[HANG], [1.0]])}, timeout_s=0.2)
    assert time.monotonic() - started < 5  # the caller got its answer at the limit, not after the loop
    assert faulty.predict({"x": np.array([[2.0]])}, timeout_s=5.0).scores.tolist() == pytest.approx([0.3])


def test_a_batch_that_fails_is_a_scoring_error(faulty: OnnxModel) -> None:
    with pytest.raises(ScoringError, match="ONNX Runtime failed"):
        faulty.predict({"x": np.array([[RAISE], [1.0]])}, timeout_s=5.0)
    assert faulty.predict({"x": np.array([[2.0]])}).scores.tolist() == pytest.approx([0.3])
