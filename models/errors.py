"""Errors raised by the model layer.

::

    ModelError                  base of everything raised by ``models``
    ├── CardError               a model card is malformed or contradicts itself
    │   └── CardMismatch        ... or contradicts its graph (also a RegistrationError)
    ├── ReferenceSampleError    a reference sample does not fit its card
    ├── RegistrationError       an artifact was refused by ``Registry.register``
    ├── IntegrityError          an artifact's sha256 no longer matches its card
    ├── ModelLoadError          ONNX Runtime cannot read or load an artifact
    ├── ModelNotFound           no such model or version in the registry
    └── ScoringError            ONNX Runtime failed on a batch
        └── ScoringTimeout      ... or did not finish within the batch's time limit

Context travels as attributes (``field``, ``model``, ``version``), not only in the message.
"""

from __future__ import annotations


class ModelError(Exception):
    """Base of every error raised by the model layer."""

    #: Whether retrying the same call may succeed (a broken artifact will not heal itself).
    retriable = False

    def __init__(self, message: str, *, field: str | None = None, model: str | None = None,
                 version: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.model = model
        self.version = version


class CardError(ModelError):
    """A model card is malformed or contradicts itself."""


class RegistrationError(ModelError):
    """An artifact was refused at registration (it does not load, or mismatches its card)."""


class CardMismatch(RegistrationError, CardError):  # noqa: N818 - reads as the refusal it reports
    """The graph's inputs or outputs disagree with the card: a refused registration whose fix is in
    the card (or the export), so callers that tell the two apart can catch it as a `CardError`."""


class ReferenceSampleError(ModelError):
    """A reference sample does not fit the model's card (bad rows, a feature it never carries, or
    too few rows left to profile)."""


class IntegrityError(ModelError):
    """An artifact's sha256 no longer matches the one recorded when it was registered."""


class ModelLoadError(ModelError):
    """ONNX Runtime cannot read or load an artifact (corrupt, truncated, unsupported opset)."""


class ModelNotFound(ModelError):  # noqa: N818 - an established public name
    """No such model, version or stage in the registry."""


class ScoringError(ModelError):
    """ONNX Runtime raised while scoring a batch."""

    retriable = True


class ScoringTimeout(ScoringError):  # noqa: N818 - a kind of ScoringError, named for when
    """ONNX Runtime did not finish a batch within its time limit (the run was told to stop)."""
