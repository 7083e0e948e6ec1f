"""Screening a reference sample against its model card before it becomes a reference profile.

The reference is what drift is judged against, so it must be data the model could have scored
live: its rows go through the same `FeatureValidator` as live events. A row a live event would
be refused for (a missing or misspelt feature, a value out of range, an unknown category under a
strict card) would otherwise land in the profile's "missing" or overflow bins and make every
later comparison wrong without a word. Two policies:

* ``"refuse"`` (the default): any rejected row refuses the sample, with one line that counts the
  rejections per error code and shows the first one;
* ``"skip"``: the valid rows are kept and the rejections reported with the same counts.

Either way a sample is refused when fewer than `MIN_REFERENCE_ROWS` valid rows remain, or when a
declared feature appears in no row at all (a misspelt key in a sample whose feature is nullable
passes row validation as null in every row).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from driftline.models.card import ModelCard
from driftline.models.errors import ReferenceSampleError
from driftline.models.validation import FeatureValidator, Invalid

RejectPolicy = Literal["refuse", "skip"]
REJECT_POLICIES: tuple[str, ...] = get_args(RejectPolicy)

#: Fewest valid rows a profile is built from: its numeric features are binned at 10 reference
#: quantiles, and below ~10 rows a bin a drift statistic compares live shares against is noise.
MIN_REFERENCE_ROWS = 100


@dataclass(frozen=True)
class ScreenedSample:
    """The rows of a reference sample that fit the card, and what was rejected.

    ``rejected`` counts the rejected rows per error code (the dead-letter codes of
    `models.validation`); ``first_rejected`` says where the first one is and why.
    """

    rows: tuple[Mapping[str, Any], ...]
    labels: tuple[Any, ...] | None
    total: int
    rejected: Mapping[str, int]
    first_rejected: str | None = None

    def summary(self) -> str:
        """One line: how many rows were rejected, per code, and the first of them."""
        if not self.rejected:
            return f"all {self.total} reference rows fit the card"
        by_count = sorted(self.rejected.items(), key=lambda kv: (-kv[1], kv[0]))
        counts = ", ".join(f"{code} {n}" for code, n in by_count)
        return (f"{sum(self.rejected.values())} of {self.total} reference rows do not fit the card "
                f"({counts}); first: {self.first_rejected}")


def screen_reference(card: ModelCard, rows: Sequence[Mapping[str, Any]], labels: Sequence[Any] | None = None,
                     *, rejects: RejectPolicy = "refuse", lines: Sequence[int] | None = None,
                     min_rows: int = MIN_REFERENCE_ROWS) -> ScreenedSample:
    """Validate ``rows`` (feature objects) against ``card`` as live events are validated.

    ``labels``, one per row when given, are kept for the kept rows. ``lines``, one per row, are
    the rows' line numbers in their file, so a message points where the user can look.

    Raises
    ------
    ReferenceSampleError
        With ``rejects="refuse"`` a row does not fit; in either policy too few valid rows remain
        or a declared feature is in no row. ``field`` is ``"reference"``.
    """
    if rejects not in REJECT_POLICIES:
        raise ValueError(f"rejects must be one of {REJECT_POLICIES}, not {rejects!r}")
    _require_every_feature(card, rows)
    errors = FeatureValidator(card).validate_batch(rows).errors
    screened = _screened(rows, labels, errors, lines)
    if screened.rejected and rejects == "refuse":
        raise ReferenceSampleError(f"{screened.summary()}; fix the sample, or pass --reference-rejects skip "
                                   "to build the profile from the valid rows", field="reference",
                                   model=card.name)
    if len(screened.rows) < min_rows:
        kept = "" if not screened.rejected else f" ({screened.summary()})"
        raise ReferenceSampleError(f"the reference sample has {len(screened.rows)} valid rows, fewer than "
                                   f"the {min_rows} a drift profile needs{kept}; add rows", field="reference",
                                   model=card.name)
    return screened


def _screened(rows: Sequence[Mapping[str, Any]], labels: Sequence[Any] | None, errors: Mapping[int, Invalid],
              lines: Sequence[int] | None) -> ScreenedSample:
    kept = [i for i in range(len(rows)) if i not in errors]
    first = None
    if errors:
        row = min(errors)
        first = f"{'line' if lines else 'row'} {lines[row] if lines else row + 1}: {errors[row].message}"
    return ScreenedSample(rows=tuple(rows[i] for i in kept),
                          labels=None if labels is None else tuple(labels[i] for i in kept),
                          total=len(rows), rejected=dict(Counter(e.code for e in errors.values())),
                          first_rejected=first)


def _require_every_feature(card: ModelCard, rows: Sequence[Mapping[str, Any]]) -> None:
    """A declared feature that no row carries is a misspelt key (or the wrong sample)."""
    seen = {key for row in rows for key in row}
    absent = [name for name in card.feature_names if name not in seen]
    if not absent or not rows:
        return
    unknown = sorted(seen - set(card.feature_names))
    close = difflib.get_close_matches(absent[0], unknown, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; the rows carry {unknown[:8]}" if unknown else ""
    raise ReferenceSampleError(f"feature {absent[0]!r} of the card is in none of the {len(rows)} reference "
                               f"rows{hint} (the sample's keys must be the card's feature names)",
                               field="reference", model=card.name)
