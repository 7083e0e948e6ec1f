"""The README's settings reference is the user's contract: keep it in step with the code."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from driftline.streams.settings import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def documented_settings() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Settings reference", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"^\| `([a-z_]+)`", section, flags=re.MULTILINE))
    # One row covers every topic name: `topic_events` … `topic_model_updates`.
    topics = {f.name for f in fields(Settings) if f.name.startswith("topic_")}
    return names | (topics if "`topic_events` … `topic_model_updates`" in section else set())


def test_every_setting_is_documented_in_the_readme() -> None:
    assert {f.name for f in fields(Settings)} - documented_settings() == set()


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    assert documented_settings() - {f.name for f in fields(Settings)} == set()
