"""River adapters: every detector plugs in, detection indices, chunking, FHDDM's inversion."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors.river_adapters import BINARY, FACTORIES, RiverAdapter, RiverSpec


def numeric_stream() -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.concatenate([rng.normal(0.0, 1.0, 3000), rng.normal(1.0, 1.0, 3000)])


def error_stream() -> np.ndarray:
    rng = np.random.default_rng(12)
    return np.concatenate([rng.random(3000) < 0.1, rng.random(3000) < 0.4]).astype(float)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_detector_finds_the_change_after_it_happens(name: str) -> None:
    params = {"seed": 1} if name == "KSWIN" else {}
    adapter = RiverSpec(name, params).build()
    values = error_stream() if name in BINARY else numeric_stream()
    for batch in np.array_split(values, 12):
        assert adapter.update_many(batch) is None
    after = [i for i in adapter.detections if i >= 3000]
    assert after and after[0] < 3600, adapter.detections


def test_regression_adwin_indices() -> None:
    adapter = RiverSpec("ADWIN").build()
    adapter.update_many(numeric_stream())
    assert adapter.detections == (3039,)


def test_chunk_means_do_not_depend_on_batching() -> None:
    values = numeric_stream()
    whole = RiverSpec("ADWIN", chunk_size=20).build()
    whole.update_many(values)
    pieces = RiverSpec("ADWIN", chunk_size=20).build()
    for batch in np.array_split(values, 37):
        pieces.update_many(batch)
    assert whole.detections == pieces.detections and whole.detections
    assert all((i + 1) % 20 == 0 for i in whole.detections)


def test_flags_reflect_the_last_batch_only() -> None:
    adapter = RiverSpec("ADWIN").build()
    adapter.update_many(numeric_stream())
    assert adapter.drift_detected
    adapter.update_many(np.ones(10))
    assert not adapter.drift_detected and adapter.n_seen == 6010


def test_binary_detectors_refuse_chunks_and_fhddm_reads_errors() -> None:
    with pytest.raises(ValueError, match="binary"):
        RiverSpec("DDM", chunk_size=5).build()
    from river.drift.binary import FHDDM

    adapter = RiverAdapter(FHDDM())
    adapter.update_many(error_stream())  # 1 = error: inverted for FHDDM, which counts successes
    assert any(i >= 3000 for i in adapter.detections)
    adapter._reset()
    assert adapter.detections == () and adapter.n_seen == 0
