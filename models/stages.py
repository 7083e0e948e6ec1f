"""Which versions of a model serve, and how: the champion, a canary, shadows, and the history.

The registry keeps one stages record per model (``stages.json``)::

    {"champion": 3, "canary": {"version": 4, "share": 0.05}, "shadows": [5], "history": [1, 2]}

* the **champion** answers every event that no canary takes;
* a **canary** answers a ``share`` of the events, chosen by a stable hash of the event id;
* **shadows** score the same events as the champion, but their answers go to a separate topic
  and never reach a consumer of predictions;
* the **history** lists former champions, oldest first, so a rollback can restore the last one.

`Stages` is a frozen value: every change (`promoted`, `with_canary`, ...) returns a new one, and
refuses a change that makes no sense with `StageError` (a `ValueError`) saying why. Versions are
never rewritten by a stage change; only this record moves.

Examples
--------
>>> stages = Stages(champion=1).with_canary(2, 0.1)
>>> stages.canary, stages.canary_share
(2, 0.1)
>>> stages = stages.promoted(2)
>>> stages.champion, stages.canary, stages.history
(2, None, (1,))
>>> stages, what = stages.rolled_back()
>>> stages.champion, what
(1, 'champion v2 rolled back to v1')
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

#: Former champions remembered for rollbacks.
HISTORY_LIMIT = 20


class StageError(ValueError):
    """A stage change that cannot be made (the message says why)."""


@dataclass(frozen=True)
class Stages:
    """The serving stages of one model (see the module docstring)."""

    champion: int | None = None
    canary: int | None = None
    canary_share: float = 0.0
    shadows: tuple[int, ...] = ()
    history: tuple[int, ...] = ()

    @classmethod
    def parse(cls, document: dict[str, Any]) -> Stages:
        """Read a stages record; `StageError` names the first field that is not what it should be."""
        champion = _version_or_none(document.get("champion"), "champion")
        canary_doc = document.get("canary")
        canary, share = None, 0.0
        if canary_doc is not None:
            if not isinstance(canary_doc, dict):
                raise StageError(f"canary is {canary_doc!r}, not an object with version and share")
            canary = _version_or_none(canary_doc.get("version"), "canary.version")
            share = _share(canary_doc.get("share"))
        shadows = _versions(document.get("shadows", []), "shadows")
        history = _versions(document.get("history", []), "history")
        return cls(champion, canary, share, shadows, history)

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"champion": self.champion}
        if self.canary is not None:
            document["canary"] = {"version": self.canary, "share": self.canary_share}
        if self.shadows:
            document["shadows"] = list(self.shadows)
        if self.history:
            document["history"] = list(self.history)
        return document

    @property
    def serving(self) -> tuple[int, ...]:
        """Every version that scores events in some role (champion, canary, shadows)."""
        versions = [v for v in (self.champion, self.canary, *self.shadows) if v is not None]
        return tuple(dict.fromkeys(versions))

    def promoted(self, version: int) -> Stages:
        """``version`` becomes champion; the former one goes to the history. A canary or shadow of
        that version stops being one."""
        if version == self.champion:
            return self
        history = self.history if self.champion is None else (*self.history, self.champion)
        return replace(self, champion=version, history=history[-HISTORY_LIMIT:],
                       canary=None if self.canary == version else self.canary,
                       canary_share=0.0 if self.canary == version else self.canary_share,
                       shadows=tuple(v for v in self.shadows if v != version))

    def with_canary(self, version: int, share: float) -> Stages:
        if self.champion is None:
            raise StageError("the model has no champion to compare a canary with; promote one first")
        if version == self.champion:
            raise StageError(f"v{version} is the champion already")
        return replace(self, canary=version, canary_share=_share(share),
                       shadows=tuple(v for v in self.shadows if v != version))

    def without_canary(self) -> Stages:
        if self.canary is None:
            raise StageError("the model has no canary")
        return replace(self, canary=None, canary_share=0.0)

    def with_shadow(self, version: int, on: bool = True) -> Stages:
        if not on:
            if version not in self.shadows:
                raise StageError(f"v{version} is not a shadow")
            return replace(self, shadows=tuple(v for v in self.shadows if v != version))
        if version in (self.champion, self.canary):
            raise StageError(f"v{version} already answers events (champion or canary)")
        return self if version in self.shadows else replace(self, shadows=(*self.shadows, version))

    def rolled_back(self) -> tuple[Stages, str]:
        """End the canary if there is one, else restore the last champion; says what it did."""
        if self.canary is not None:
            return self.without_canary(), f"canary v{self.canary} ended"
        if not self.history:
            raise StageError("nothing to roll back: no canary and no former champion")
        restored = self.history[-1]
        stages = replace(self, champion=restored, history=self.history[:-1],
                         shadows=tuple(v for v in self.shadows if v != restored))
        return stages, f"champion v{self.champion} rolled back to v{restored}"


def _version_or_none(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StageError(f"{field} is {value!r}, not a version number")
    return value


def _versions(value: Any, field: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise StageError(f"{field} is {value!r}, not a list of version numbers")
    return tuple(v for v in (_version_or_none(item, field) for item in value) if v is not None)


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise StageError(f"a canary share is a number between 0 and 1 (exclusive), not {value!r}")
    return float(value)
