"""Raw values of a sensitive segment never leave the segment coder: not in alerts, snapshots or logs.

The events plant marker values (``MARKER-…``) beside the declared ones; everything the fairness
path publishes is scanned for them. (The integration run that scans a broker's topics, the logs
and the metric labels waits for the streams wiring: see the README's limits.)
"""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pytest

from driftline.detectors.fairness import FairnessMonitor, FairnessSettings
from driftline.detectors.segments import SegmentCoder
from driftline.models.segments import SegmentSpec

MARKERS = [f"MARKER-{i:03d}" for i in range(30)]


def test_markers_appear_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    spec = SegmentSpec(name="region", source="attributes.region", sensitive=True, values=("north", "south"))
    coder = SegmentCoder(spec)
    rng = np.random.default_rng(5)
    settings = FairnessSettings(window_size=5000, evaluate_every=500, min_samples=200)
    monitor = FairnessMonitor("m", 1, "champion", "region", coder.labels, settings=settings)
    published = []
    for _ in range(40):
        shares = np.array([0.3, 0.3, *[0.38 / len(MARKERS)] * len(MARKERS), 0.02])
        raw = rng.choice(np.array(["north", "south", *MARKERS, None], dtype=object), size=500, p=shares)
        groups = coder.codes(list(raw))
        is_marker = np.array([isinstance(v, str) and v.startswith("MARKER") for v in raw])
        # The markers' group is worse off, so an alert is raised and scanned.
        y_pred = (rng.random(500) < np.where(is_marker, 0.1, 0.4)).astype(int)
        published += [dataclasses.asdict(event) for event in monitor.update(groups, y_pred, y_pred)]
    assert published, "the planted group should raise, so the alert is scanned"
    assert coder.labels == ("north", "south", "other", "missing")
    text = json.dumps([published, monitor.judge(), coder.labels]) + caplog.text
    assert "other" in text
    assert not [marker for marker in MARKERS if marker in text]
    assert "MARKER" not in text
