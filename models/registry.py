"""A file-based model registry: immutable versions, their cards, and which version serves.

Layout under the registry root::

    <name>/<version>/model.onnx       the artifact, byte for byte as registered
    <name>/<version>/card.json        its ModelCard, with version, sha256 and created_at filled in
    <name>/<version>/reference.json   optional: the reference profile drift is measured against
    <name>/stages.json                which versions serve and how (`models.stages`), e.g.
                                      {"champion": 2, "canary": {"version": 3, "share": 0.05}}

Versions are the integers 1, 2, 3, ... and never change once written. A version is assembled in
a hidden staging folder beside it and renamed into place, so a reader never sees half of one, and
two registrations racing for the same number cannot both win it. ``stages.json`` is replaced
atomically as well; keys `models.stages` does not know are kept as they are when it is
rewritten. Stage updates are read-modify-write: one writer (the operator or the retrainer) at a
time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from driftline.models.card import ModelCard
from driftline.models.errors import (
    CardError,
    CardMismatch,
    IntegrityError,
    ModelError,
    ModelNotFound,
    RegistrationError,
)
from driftline.models.runtime import OnnxModel, Row, columns_from_rows, sha256_file
from driftline.models.stages import StageError, Stages

log = logging.getLogger(__name__)

ARTIFACT_FILE = "model.onnx"
CARD_FILE = "card.json"
REFERENCE_FILE = "reference.json"
STAGES_FILE = "stages.json"

#: Stages ``register`` can assign: ``"auto"`` makes the new version champion when the model has
#: none yet (its first version, typically), otherwise leaves the stages alone.
StageRequest = Literal["auto", "champion"]

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_UNSEEN_PROBE = "__driftline_unseen_probe__"
_COMMIT_ATTEMPTS = 16
#: The keys of ``stages.json`` that `Stages` owns.
_STAGE_KEYS = frozenset({"champion", "canary", "shadows", "history"})


class Registry:
    """Model versions stored under ``root`` (created on first registration).

    Parameters
    ----------
    root
        The registry folder; several workers may read it while one process registers.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def register(self, artifact: Path, card: ModelCard, *,
                 reference: Path | Mapping[str, Any] | None = None,
                 stage: StageRequest | None = "auto") -> ModelCard:
        """Validate ``artifact`` against ``card`` and store it as the model's next version.

        The artifact is copied into a staging folder and everything is checked on that copy:
        it must load in ONNX Runtime, its inputs and outputs must match the card, and a test
        inference on rows synthesised from the card's spec (in-range numbers, every category,
        a null where nullable, an unseen category where the policy is ``other``) must return
        one finite score in [0, 1] per row. A ``sha256`` already on the card must match the
        artifact. Only then is the folder renamed into place.

        Parameters
        ----------
        artifact
            The ONNX file to register (anywhere outside the registry).
        card
            Its card; ``version``, ``sha256`` and ``created_at`` are filled in here.
        reference
            Optional reference profile (a JSON file or a mapping) stored with the version.
        stage
            ``"champion"`` to promote the new version, ``"auto"`` to promote it only if the model
            has no champion yet, ``None`` to leave the stages alone.

        Returns
        -------
        ModelCard
            The card as stored, with ``version``, ``sha256`` and ``created_at``.

        Raises
        ------
        RegistrationError
            The artifact was refused; ``model`` and, for spec mismatches, ``field`` say why.
        """
        if stage not in ("auto", "champion", None):
            raise ValueError(f"stage must be 'auto', 'champion' or None, not {stage!r}")
        model_dir = self.root / _registrable_name(card.name)
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the version from workers running as others
        try:
            digest = _stage_artifact(artifact, staging / ARTIFACT_FILE, card)
            validate_artifact(staging / ARTIFACT_FILE, card, digest)
            if reference is not None:
                _stage_reference(reference, staging / REFERENCE_FILE, card)
            registered, version = self._commit(staging, card, digest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already when the commit renamed it
        log.info("registered model %s version %s (sha256 %s)", card.name, version, digest)
        if stage == "champion" or (stage == "auto" and "champion" not in self.stages(card.name)):
            self.promote(card.name, version)
        return registered

    def list_models(self) -> list[dict[str, Any]]:
        """Every model with at least one version: ``name``, ``versions``, ``champion`` (or None) and
        ``stages`` (see `models.stages`)."""
        if not self._root_exists():
            return []
        models = []
        for model_dir in sorted(self.root.iterdir()):
            if model_dir.is_dir() and _MODEL_NAME.fullmatch(model_dir.name):
                versions = self.versions(model_dir.name)
                if versions:
                    stages = self.stage_record(model_dir.name)
                    models.append({"name": model_dir.name, "versions": versions, "champion": stages.champion,
                                   "stages": stages.to_dict()})
        return models

    def versions(self, name: str) -> list[int]:
        """The model's registered versions in ascending order (empty if there is no such model)."""
        model_dir = self._model_dir(name)
        if not model_dir.is_dir():
            return []
        return sorted(int(entry.name) for entry in model_dir.iterdir()
                      if entry.name.isdigit() and (entry / CARD_FILE).is_file())

    def stages(self, name: str) -> dict[str, Any]:
        """The model's stage record (``{}`` before any promotion), as stored in ``stages.json``."""
        path = self._model_dir(name) / STAGES_FILE
        if not path.is_file():
            return {}
        return _read_json_object(path, name, None)

    def champion(self, name: str) -> int:
        """The version that serves by default; ``ModelNotFound`` if the model has none."""
        champion = self._stored_champion(name)
        if champion is None:
            problem = "has no champion" if self.versions(name) else "is not registered"
            raise ModelNotFound(f"model {name!r} {problem}", model=name)
        return champion

    def _stored_champion(self, name: str) -> int | None:
        """The champion ``stages.json`` names (None before any promotion)."""
        return self.stage_record(name).champion

    def stage_record(self, name: str) -> Stages:
        """The model's serving stages; ``IntegrityError`` naming the file when it is malformed."""
        try:
            return Stages.parse(self.stages(name))
        except StageError as exc:
            path = self._model_dir(name) / STAGES_FILE
            raise IntegrityError(f"model {name!r}: {path}: {exc}", model=name) from None

    def change_stages(self, name: str, change: Callable[[Stages], Stages]) -> tuple[Stages, Stages]:
        """Apply ``change`` to the model's stages and store the result; returns (before, after).

        Every version the new stages name must be registered (``ModelNotFound`` otherwise); a change
        that makes no sense raises `StageError`. Keys of ``stages.json`` this module does not know
        are kept.
        """
        before = self.stage_record(name)
        after = change(before)
        for version in after.serving:
            self._version_dir(name, version)
        document = {k: v for k, v in self.stages(name).items() if k not in _STAGE_KEYS} | after.to_dict()
        _write_json_atomically(self._model_dir(name) / STAGES_FILE, document)
        log.info("model %s: stages %s (were %s)", name, after.to_dict(), before.to_dict())
        return before, after

    def card(self, name: str, version: int | None = None) -> ModelCard:
        """The stored card of ``version`` (the champion when None); ``ModelNotFound`` if absent."""
        version_dir = self._version_dir(name, version)
        return _read_card(version_dir, name)

    def reference(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        """The reference profile stored with ``version`` (champion when None), if any."""
        path = self._version_dir(name, version) / REFERENCE_FILE
        return _read_json_object(path, name, version) if path.is_file() else None

    def load(self, name: str, version: int | None = None) -> OnnxModel:
        """Load ``version`` (the champion when None) after checking the artifact's sha256.

        Raises
        ------
        ModelNotFound
            No such model or version, or no champion.
        IntegrityError
            The stored artifact is missing or no longer matches the sha256 in its card.
        """
        version_dir = self._version_dir(name, version)
        card = _read_card(version_dir, name)
        path = version_dir / ARTIFACT_FILE
        if card.sha256 is None or not path.is_file():
            raise IntegrityError(f"model {name!r} version {card.version}: the artifact or its recorded "
                                 f"sha256 is missing", model=name, version=card.version)
        return OnnxModel.load(path, card, expected_sha256=card.sha256)

    def promote(self, name: str, version: int) -> int | None:
        """Make ``version`` the champion; returns the previous champion (None if there was none).
        The former champion goes to the history that ``rollback`` restores from."""
        self._version_dir(name, version)  # raises ModelNotFound for an unknown version
        before, _ = self.change_stages(name, lambda stages: stages.promoted(version))
        return before.champion

    def _root_exists(self) -> bool:
        """Whether the registry folder exists; ``IntegrityError`` when its path is something else."""
        if self.root.exists() and not self.root.is_dir():
            raise IntegrityError(f"the registry {self.root} is not a folder")
        return self.root.is_dir()

    def _model_dir(self, name: str) -> Path:
        if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
            raise ModelNotFound(f"{name!r} is not a valid model name", model=str(name))
        self._root_exists()
        return self.root / name

    def _version_dir(self, name: str, version: int | None) -> Path:
        if version is None:
            version = self.champion(name)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ModelNotFound(f"model {name!r}: {version!r} is not a version number", model=name)
        version_dir = self._model_dir(name) / str(version)
        if not (version_dir / CARD_FILE).is_file():
            raise ModelNotFound(f"model {name!r} has no version {version}", model=name, version=version)
        return version_dir

    def _commit(self, staging: Path, card: ModelCard, digest: str) -> tuple[ModelCard, int]:
        """Rename the staged folder to the next free version number; retry if another writer won it."""
        for _ in range(_COMMIT_ATTEMPTS):
            version = max(self.versions(card.name), default=0) + 1
            registered = replace(card, version=version, sha256=digest,
                                 created_at=datetime.now(UTC).isoformat(timespec="seconds"))
            _write_json_durably(staging / CARD_FILE, registered.to_dict())
            target = staging.parent / str(version)
            try:
                staging.rename(target)  # fails when the folder exists: versions are never overwritten
            except OSError:
                if target.exists():
                    continue
                raise
            _fsync_directory(staging.parent)
            return registered, version
        raise RegistrationError(f"model {card.name!r}: no free version number after {_COMMIT_ATTEMPTS} "
                                f"attempts", model=card.name)


def _read_json_object(path: Path, name: str, version: int | None) -> dict[str, Any]:
    """A registry file, which only this module writes: anything but a JSON object is corruption."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise IntegrityError(f"model {name!r}: {path} is not valid JSON: {exc}", model=name,
                             version=version) from exc
    if not isinstance(document, dict):
        raise IntegrityError(f"model {name!r}: {path} is not a JSON object", model=name, version=version)
    return document


def _read_card(version_dir: Path, name: str) -> ModelCard:
    """A stored card, or a `CardError` naming its file: a card edited by hand after registration
    must stop a worker with one line, not a traceback from deep inside the parser."""
    path = version_dir / CARD_FILE
    raw = _read_json_object(path, name, int(version_dir.name))
    try:
        return ModelCard.from_dict(_stored_before_tasks(raw))
    except CardError as exc:
        raise CardError(f"{path}: {exc}", field=exc.field, model=name) from exc
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise CardError(f"{path}: not a valid model card: {exc}", model=name) from exc


def _stored_before_tasks(raw: dict[str, Any]) -> dict[str, Any]:
    """A card stored before cards declared a task: every model then was a binary classifier, and
    its stored output object always held ``positive_index`` (a hand-written card never reaches here
    without a task, so this never guesses for a user)."""
    output = raw.get("output")
    if isinstance(output, dict) and "task" not in output and "positive_index" in output:
        return {**raw, "output": {"task": "binary", **output}}
    return raw


def _registrable_name(name: str) -> str:
    if not _MODEL_NAME.fullmatch(name):
        raise RegistrationError(f"model name {name!r} must be 1-128 letters, digits, '.', '_' or '-', "
                                f"starting with a letter or digit", field="name", model=name)
    return name


def _stage_artifact(artifact: Path, staged: Path, card: ModelCard) -> str:
    """Copy the artifact into staging and hash the copy, so what is checked is what is stored."""
    try:
        shutil.copyfile(artifact, staged)
    except OSError as exc:
        raise RegistrationError(f"model {card.name!r}: cannot read artifact {artifact}: {exc}",
                                model=card.name) from exc
    _fsync_file(staged)
    digest = sha256_file(staged)
    if card.sha256 is not None and card.sha256.lower() != digest:
        raise RegistrationError(f"model {card.name!r}: artifact {artifact} has sha256 {digest}, but the "
                                f"card was written for {card.sha256}", field="sha256", model=card.name)
    return digest


def validate_artifact(artifact: Path, card: ModelCard, digest: str | None = None) -> OnnxModel:
    """The checks ``Registry.register`` makes, for a caller that must run them before anything
    else uses the model (a reference sample is scored only by a model that fits its card).

    Loads ``artifact`` (checking ``digest``, else the card's sha256, when given), checks its inputs
    and outputs against the card and runs the test inference; returns the loaded model.

    Raises
    ------
    CardMismatch
        The graph disagrees with the card; ``field`` names the feature or output.
    RegistrationError
        The artifact does not load, or its test inference fails.
    """
    try:
        model = OnnxModel.load(artifact, card, expected_sha256=digest or card.sha256)
    except ModelError as exc:
        raise RegistrationError(f"model {card.name!r}: the artifact does not load in ONNX Runtime: {exc}",
                                model=card.name) from exc
    try:
        model.check_inputs()
        model.check_outputs()
    except CardError as exc:
        raise CardMismatch(f"model {card.name!r}: the artifact disagrees with its card: {exc}",
                           field=exc.field, model=card.name) from exc
    _smoke_test(model)
    return model


def _smoke_test(model: OnnxModel) -> None:
    """Score rows built from the card's spec; a model that cannot score them must not serve."""
    card = model.card
    rows = _smoke_rows(card)
    try:
        prediction = model.predict(columns_from_rows(card, rows))
    except ModelError as exc:
        raise RegistrationError(f"model {card.name!r}: test inference on {len(rows)} rows built from the "
                                f"card failed: {exc}", model=card.name) from exc
    # predict() has checked the outputs against the task (shapes, probabilities within float32
    # rounding of [0, 1], finite values): what is left is one answer per row.
    if prediction.scores.shape != (len(rows),):
        raise RegistrationError(f"model {card.name!r}: test inference on {len(rows)} rows returned "
                                f"{prediction.scores.shape[0]} predictions", model=card.name)


def _smoke_rows(card: ModelCard) -> list[Row]:
    """One row per category of the widest feature (at least 3), plus two for the edge cases.

    Numbers sweep the spec range end to end; the second-to-last row is null wherever the spec
    allows it and the last carries an unseen category wherever the policy is ``other``.
    """
    count = max(3, *(len(spec.categories) for spec in card.features)) + 2
    rows: list[dict[str, float | str | None]] = [{} for _ in range(count)]
    for spec in card.features:
        if spec.type == "numeric":
            low, high = _probe_range(spec.min, spec.max)
            values: list[float | str | None] = [float(v) for v in np.linspace(low, high, count)]
        else:
            values = [spec.categories[i % len(spec.categories)] for i in range(count)]
            if spec.unseen == "other":
                values[-1] = _UNSEEN_PROBE
        if spec.nullable:
            values[-2] = None
        for row, value in zip(rows, values, strict=True):
            row[spec.name] = value
    return list(rows)


def _probe_range(low: float | None, high: float | None) -> tuple[float, float]:
    if low is None:
        low = -1.0 if high is None else min(high, 0.0) - 1.0
    if high is None:
        high = max(low, 0.0) + 1.0
    return low, high


def _stage_reference(reference: Path | Mapping[str, Any], staged: Path, card: ModelCard) -> None:
    profile: Any = reference
    if isinstance(reference, Path):
        try:
            profile = json.loads(reference.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RegistrationError(f"model {card.name!r}: reference {reference} is not a readable JSON "
                                    f"file: {exc}", field="reference", model=card.name) from exc
    if not isinstance(profile, Mapping):
        raise RegistrationError(f"model {card.name!r}: the reference profile must be a JSON object",
                                field="reference", model=card.name)
    try:
        _write_json_durably(staged, profile)
    except (TypeError, ValueError) as exc:
        raise RegistrationError(f"model {card.name!r}: the reference profile is not JSON: {exc}",
                                field="reference", model=card.name) from exc


def _write_json_durably(path: Path, document: Mapping[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())


def _write_json_atomically(path: Path, document: Mapping[str, Any]) -> None:
    """Replace ``path`` in one step, so readers see either the old document or the new one."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(handle)
    try:
        _write_json_durably(Path(temporary), document)
        Path(temporary).chmod(0o644)  # mkstemp's 0600, like the version folders, must stay readable
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as artifact:
        os.fsync(artifact.fileno())


def _fsync_directory(path: Path) -> None:
    # A rename is durable only once its directory is synced; some filesystems refuse, that is fine.
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(handle)
    finally:
        os.close(handle)
