"""Fixtures for tests that talk to a real Kafka broker.

One broker serves the whole session (a JVM start costs seconds); tests stay independent by
using unique topic and group names from ``topic_prefix``.
"""

from __future__ import annotations

import dataclasses
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftline.models.demo import train_demo_model
from driftline.models.registry import Registry
from driftline.models.segments import SegmentSpec
from driftline.models.synthetic import SyntheticStream
from driftline.streams.broker import start_on_free_port, stop
from driftline.streams.registration import register_with_reference
from driftline.streams.settings import Settings
from tests.integration.support import WorkerProcess

_HERE = Path(__file__).resolve().parent


#: Modules that run beside the others when the integration phase has two pytest-xdist workers
#: (``--dist loadgroup``): the outage test brings its own broker and spends most of its 150 s
#: waiting one out, and the bench test's processes take turns on their own topics. Every other
#: test runs in the other worker, one at a time, as several measure a worker under load.
BESIDE_THE_REST = frozenset({"test_broker_outage.py", "test_bench_command.py"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration, so ``-m "not integration"`` skips them all, and
    put it in its xdist group.

    The hook sees the whole session's items, so it filters on path.
    """
    for item in items:
        if item.path.resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.integration)
            beside = item.path.name in BESIDE_THE_REST
            item.add_marker(pytest.mark.xdist_group("beside" if beside else "one-at-a-time"))


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a broker started for this session on a free port, stopped at the end."""
    data_dir = tmp_path_factory.mktemp("kafka")
    handle = start_on_free_port(data_dir)
    try:
        yield handle.bootstrap
    finally:
        stop(data_dir)


@pytest.fixture
def segmented_registry(tmp_path: Path) -> Path:
    """The demo model, its card declaring a sensitive region, registered with labelled reference rows
    (so its profile carries a score calibration)."""
    root = tmp_path / "registry"
    with tempfile.TemporaryDirectory(prefix="driftline-seg-") as scratch:
        artifact, card = train_demo_model(Path(scratch), seed=11, n_train=5000)
        region = SegmentSpec(name="region", source="attributes.region", sensitive=True,
                             values=("north", "south"))
        card = dataclasses.replace(card, segments=(region,))
        rows, labels = SyntheticStream(seed=11).sample(5000)
        register_with_reference(Registry(root), artifact, card, rows, labels.tolist())
    return root


@pytest.fixture
def topic_prefix() -> str:
    """A unique prefix per test for topic and group names on the shared broker."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    """One ``driftline worker`` with the test module's ``settings`` fixture, stopped at the end."""
    process = WorkerProcess(settings, tmp_path / "worker.log")
    yield process
    process.stop()


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Two ``driftline worker`` processes sharing the test module's ``settings``, stopped at the end."""
    pair = [WorkerProcess(settings, tmp_path / f"worker-{i}.log") for i in range(2)]
    yield pair
    for worker in pair:
        worker.stop()
