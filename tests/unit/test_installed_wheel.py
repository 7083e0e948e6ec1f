"""driftline installs as one namespaced package: a user's own ``models``, ``streams`` and ``ext``
packages live beside it.

The wheel is built from a copy of the source tree (the checkout stays untouched) and installed into a
fresh virtual environment that sees the dev environment's dependencies but not its editable install of
driftline, so what is imported is what ``pip install driftline`` would give a user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The installed wheel's environment: a PYTHONPATH pointing at a checkout would shadow the wheel.
CLEAN_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}

USER_PROJECT = {
    "models/__init__.py": "",
    "models/card.py": "OWNER = 'user'\n",
    "streams/__init__.py": "OWNER = 'user'\n",
    "ext/__init__.py": "OWNER = 'user'\n",
    "main.py": """\
import json

import ext
import models.card
import streams

import driftline
import driftline.models.card
import driftline.streams.settings
from driftline import ext as kernels

print(json.dumps({
    "user": [models.card.OWNER, streams.OWNER, ext.OWNER],
    "driftline": driftline.__file__,
    "card": hasattr(driftline.models.card, "ModelCard"),
    "settings": hasattr(driftline.streams.settings, "Settings"),
    "kernels": kernels.IMPLEMENTATION,
}))
""",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)  # driftline/ holds links: keep them
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the dev environment already has setuptools, Cython and numpy.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(source)], check=True, capture_output=True, timeout=600)
    (built,) = out.glob("driftline-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the wheel installed; dependencies come from the dev venv's site-packages (no .pth run)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # A path line, not a site directory: the dev venv's editable-install hook is never run.
    (site / "dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    return venv


def test_the_wheel_holds_only_the_driftline_namespace(wheel: Path) -> None:
    import zipfile

    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"driftline"}
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "driftline/streams/broker/pom.xml" in names
    assert any(name.startswith("driftline/ext/_histogram.") and name.endswith(".so") for name in names)


def test_a_user_project_with_its_own_models_streams_and_ext_imports_driftline_beside_them(
        installed: Path, tmp_path: Path) -> None:
    for name, text in USER_PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = subprocess.run([installed / "bin" / "python", "main.py"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, check=False, env=CLEAN_ENV)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["user"] == ["user", "user", "user"]
    assert Path(seen["driftline"]).is_relative_to(installed)  # the wheel, not the checkout
    assert seen["card"] and seen["settings"]
    assert seen["kernels"] == "cython"


def test_the_installed_console_script_runs(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run([installed / "bin" / "driftline", "models", "list", "--registry", str(tmp_path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                            env=CLEAN_ENV)
    assert result.returncode == 0, result.stderr
    assert "no models" in (result.stdout + result.stderr).lower()
