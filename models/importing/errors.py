"""The one error of ``models.importing``: a user's pipeline or sample that cannot become a served model."""

from __future__ import annotations

from driftline.models.errors import ModelError


class ImportRefused(ModelError):  # noqa: N818 - it is a refusal, named for what the user reads
    """The pipeline, the sample or their combination cannot be imported; the message says how to fix it.

    ``field`` names the command-line argument or the column at fault (``model``, ``sample``,
    ``label``, ``task``, a column name) so a caller can point at it.
    """


def first_line(exc: BaseException) -> str:
    """The first line of a third-party error's message: what a one-line refusal can quote."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
