"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.models.registry import Registry
from driftline.streams.registration import register_demo_with_reference


@pytest.fixture(scope="session")
def demo_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding the seeded demo model as champion, with its reference profile."""
    root = tmp_path_factory.mktemp("registry")
    register_demo_with_reference(Registry(root), seed=7)
    return root
