"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.demo import register_demo
from models.registry import Registry


@pytest.fixture(scope="session")
def demo_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding the seeded demo model as champion (trained once per test session)."""
    root = tmp_path_factory.mktemp("registry")
    register_demo(Registry(root), seed=7)
    return root
