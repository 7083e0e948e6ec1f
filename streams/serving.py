"""Which model versions a worker serves, loaded and verified from the registry.

Used at start-up (every served model's champion) and when a model-updates record promotes another
version, so both paths check the artifact's sha256 and attach the version's reference profile the
same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from driftline.detectors.reference import ReferenceProfile
from driftline.models.errors import ModelError
from driftline.models.registry import REFERENCE_FILE, Registry
from driftline.streams.metrics import record_served
from driftline.streams.scoring import Rollout, ServedModel
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)


class CannotServe(Exception):  # noqa: N818 - reads as the condition it reports
    """The worker cannot start: no model, a tampered artifact, or an inconsistent setting."""


def load_served_models(settings: Settings) -> dict[str, ServedModel]:
    """Load the champion of every served model, checking each artifact's sha256."""
    registry = Registry(settings.registry)
    try:
        names = settings.models or tuple(m["name"] for m in registry.list_models() if m.get("champion"))
        if not names:
            raise CannotServe(f"no model to serve: the registry at {settings.registry} has no champion "
                              "(run `driftline models demo` or `driftline models register`)")
        served = {name: load_served_model(registry, name, monitors=settings.monitors) for name in names}
    except ModelError as exc:
        raise CannotServe(f"refusing to start: {exc}") from exc
    return served


class ProfileError(ModelError):
    """A version's stored reference profile cannot be read as one."""


def load_served_model(registry: Registry, name: str, *, monitors: bool,
                      version: int | None = None) -> ServedModel:
    """``version`` of ``name`` (the champion when None), sha256 verified, with its drift binner when
    monitoring: what a worker serves, and what ``models promote`` checks before it tells them."""
    model = registry.load(name, version)
    reference = registry.reference(name, model.card.version) if monitors else None
    if monitors and reference is None:
        log.warning("%s v%s has no reference profile: its drift is not monitored", name, model.card.version)
    try:
        profile = ReferenceProfile.from_dict(reference) if reference else None
    except (ValueError, KeyError, TypeError) as exc:
        path = registry.root / name / str(model.card.version) / REFERENCE_FILE
        raise ProfileError(f"model {name!r} version {model.card.version}: {path} is not a reference "
                           f"profile this worker can read: {exc}") from exc
    served = ServedModel.of(model, profile)
    log.info("serving %s v%d (sha256 verified)", served.name, served.version)
    return served


def load_rollout(registry: Registry, name: str, *, monitors: bool,
                 loaded: Mapping[int, ServedModel] | None = None) -> tuple[ServedModel, Rollout]:
    """The champion of ``name`` and what serves beside it (canary, shadows), as its stages say.

    Versions in ``loaded`` are reused (no second ONNX Runtime session for a version already
    served). A canary or shadow that cannot be loaded is left out with an error in the log: the
    champion keeps serving, and a broken candidate never takes its traffic.
    """
    loaded = loaded or {}
    stages = registry.stage_record(name)

    def load(version: int) -> ServedModel:
        return loaded.get(version) or load_served_model(registry, name, monitors=monitors, version=version)

    champion = load(registry.champion(name))
    canary: ServedModel | None = None
    if stages.canary is not None:
        canary = _candidate(load, name, stages.canary, "canary")
    shadows = tuple(s for s in (_candidate(load, name, v, "shadow") for v in stages.shadows) if s is not None)
    return champion, Rollout(canary, stages.canary_share if canary else 0.0, shadows)


def _candidate(load: Callable[[int], ServedModel], name: str, version: int, role: str) -> ServedModel | None:
    try:
        return load(version)
    except ModelError as exc:
        log.error("not serving %s v%d as %s: %s", name, version, role, exc)
        return None


def load_rollouts(settings: Settings, served: Mapping[str, ServedModel]) -> dict[str, Rollout]:
    """What serves beside each served champion at start-up (see `load_rollout`)."""
    registry = Registry(settings.registry)
    rollouts = {}
    for name, champion in served.items():
        _, rollout = load_rollout(registry, name, monitors=settings.monitors,
                                  loaded={champion.version: champion})
        record_rollout(champion, rollout)
        if rollout.models:
            rollouts[name] = rollout
    return rollouts


def record_rollout(champion: ServedModel, rollout: Rollout) -> None:
    """Export which versions of the model this worker serves, and in which role."""
    roles = [(champion, "champion")] + [(m, "canary") for m in (rollout.canary,) if m is not None]
    roles += [(m, "shadow") for m in rollout.shadows]
    record_served(champion.name, [(m.version, m.model.card.sha256 or "", role) for m, role in roles])
