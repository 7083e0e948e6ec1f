"""The modes a benchmark measures, and the settings each one's process runs with.

A mode is a process that turns the events topic into one output per event: the bare passthrough
(``raw``, the ceiling), the worker scoring only (``scoring``) and the worker with drift monitoring
(``full``); and the worker's label join (``join``), whose input is predictions and their labels
rather than events and whose output is training examples. Each gets its own topics, group and
client ids, so modes never read each other's data or offsets. ``pending`` (not a default) feeds the
join predictions only, to measure what holding them costs. The peers (``faust``, ``quix``; not
defaults, they are several times slower) do the scoring work the way a user would build it without
driftline, on the same events and model (``streams.bench.peers``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.streams.broker import free_port
from driftline.streams.settings import Settings


@dataclass(frozen=True)
class ModeSpec:
    """How to run one mode: the module run as a child, its arguments, its switches."""

    name: str
    #: ``python -m <module>``; None while the mode is not implemented.
    module: str | None
    args: tuple[str, ...] = ()
    monitors: bool = False
    #: Whether the child serves Prometheus metrics (on a free port).
    metrics: bool = False
    #: Whether the child runs the label join; its input is then predictions (and their labels when
    #: ``labels``), its output training examples (with labels) or pending entries (without).
    label_join: bool = False
    labels: bool = True
    #: A peer (``streams.bench.peers``): started with the model's artifact, name and version.
    peer: bool = False
    #: What progress messages call the child.
    title: str = ""


MODES: dict[str, ModeSpec] = {
    "raw": ModeSpec("raw", "driftline.streams.bench.passthrough", title="aiokafka passthrough"),
    "scoring": ModeSpec("scoring", "driftline.streams.cli", ("worker",), title="worker, monitors off"),
    "full": ModeSpec("full", "driftline.streams.cli", ("worker",), monitors=True, metrics=True,
                     title="worker, monitors on"),
    "join": ModeSpec("join", "driftline.streams.cli", ("worker",), label_join=True, metrics=True,
                     title="worker, label join of preloaded predictions and labels"),
    # Not a default: run it with --events 1000000 to see what a million waiting predictions cost.
    "pending": ModeSpec("pending", "driftline.streams.cli", ("worker",), label_join=True, labels=False,
                        title="worker, label join holding predictions whose labels never come"),
    "faust": ModeSpec("faust", "driftline.streams.bench.peers.faust_agent", peer=True,
                      title="plain Faust agent scoring event by event"),
    "quix": ModeSpec("quix", "driftline.streams.bench.peers.quix_app", peer=True,
                     title="Quix Streams application scoring event by event"),
}

DEFAULT_MODES = ("raw", "scoring", "full", "join")
PEER_MODES = ("faust", "quix")

#: A bench child's consumer session: longer than any pause (SIGSTOP: no heartbeats) of the
#: throughput turns (``streams.bench.slices``: a few seconds) and of the latency rounds (a target
#: waits out the other's load or low rate: ~30 s at the defaults). It changes nothing while a child
#: runs; Faust wants it under its 90 s request timeout.
BENCH_SESSION_TIMEOUT_MS = 60_000

#: Settings fields naming topics (``topic_partitions`` is a count, not a name).
TOPIC_FIELDS = tuple(f.name for f in fields(Settings) if f.name.startswith("topic_")
                     and f.name != "topic_partitions")


def parse_modes(text: str) -> tuple[str, ...]:
    """``raw,scoring,full`` → the modes in table order; unknown or unimplemented ones are refused."""
    asked = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [m for m in asked if m not in MODES]
    if unknown or not asked:
        raise ValueError(f"unknown modes {unknown}; choose from {', '.join(MODES)}")
    missing = [m for m in asked if MODES[m].module is None]
    if missing:
        raise ValueError(f"mode {missing[0]} is not implemented yet (it is reported as null)")
    return tuple(m for m in MODES if m in asked)


def mode_settings(base: Settings, spec: ModeSpec, *, bootstrap: str, registry: Path, run_id: str,
                  partitions: int) -> Settings:
    """``base`` with this mode's broker, registry, topics, ids and switches."""
    prefix = f"{run_id}-{spec.name}"
    topics: dict[str, Any] = {name: f"{prefix}-{name.removeprefix('topic_').replace('_', '-')}"
                              for name in TOPIC_FIELDS}
    return dataclasses.replace(
        base, broker=bootstrap, registry=registry, app_id=prefix, group_id=f"{prefix}-scoring",
        topic_partitions=partitions, monitors=spec.monitors, label_join=spec.label_join,
        metrics_port=free_port() if spec.metrics else 0, state_dir=registry.parent / "state",
        models=(DEMO_MODEL_NAME,), default_model="",
        session_timeout_ms=max(base.session_timeout_ms, BENCH_SESSION_TIMEOUT_MS), **topics,
    )
