"""Which model versions a worker serves, loaded and verified from the registry.

Used at start-up (every served model's champion) and when a model-updates record promotes another
version, so both paths check the artifact's sha256 and attach the version's reference profile the
same way.
"""

from __future__ import annotations

import logging

from detectors.reference import ReferenceProfile
from models.errors import ModelError
from models.registry import REFERENCE_FILE, Registry
from streams.metrics import MODEL_INFO
from streams.scoring import ServedModel
from streams.settings import Settings

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
    MODEL_INFO.labels(served.name, str(served.version), model.card.sha256 or "").set(1)
    return served
