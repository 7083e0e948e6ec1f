"""Resolve the jars of a genuine Apache Kafka broker from Maven Central, once per version.

Why Maven and not a tarball or Docker: Maven Central is the one source of Kafka this project can
reach everywhere it runs (developers and CI alike), and ``kafka_2.13``'s POM names every server
module it needs. The template POM next to this module adds the log4j2 backend Kafka 4.x lacks.

Layout of the cache (``cache_dir`` defaults to ``~/.cache/driftline``)::

    <cache_dir>/kafka-<version>/pom.xml          the rendered template, kept for debugging
    <cache_dir>/kafka-<version>/.lock            serialises concurrent resolutions
    <cache_dir>/kafka-<version>/lib/*.jar        the runtime classpath
    <cache_dir>/kafka-<version>/lib/.complete    marker: names every jar of a finished resolution

The marker is written last, so an interrupted download is redone instead of trusted.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from driftline.streams.broker.errors import JarsUnresolvable, MavenMissing

log = logging.getLogger(__name__)

#: The one place the Kafka version is pinned. 4.4.0 is the newest release Maven Central serves
#: here; aiokafka 0.14 produces, consumes and commits group offsets against it (see
#: tests/integration/test_broker.py). Kafka 4.x needs Java 17+.
KAFKA_VERSION = "4.4.0"

#: Placeholder in the packaged ``pom.xml`` replaced by the requested version.
VERSION_PLACEHOLDER = "@KAFKA_VERSION@"

MARKER_NAME = ".complete"
MAVEN_TIMEOUT_S = 900.0
_TAIL_LINES = 25


def default_cache_dir() -> Path:
    """Where jars live when the caller names no folder: per user, shared by every checkout."""
    return Path.home() / ".cache" / "driftline"


def lib_dir(version: str = KAFKA_VERSION, cache_dir: Path | None = None) -> Path:
    """The folder ``ensure_jars`` fills for ``version`` (the broker's ``-cp '<lib>/*'``)."""
    return (cache_dir if cache_dir is not None else default_cache_dir()) / f"kafka-{version}" / "lib"


def render_pom(version: str = KAFKA_VERSION) -> str:
    """The packaged template POM with the Kafka version filled in."""
    template = resources.files("driftline.streams.broker").joinpath("pom.xml").read_text(encoding="utf-8")
    return template.replace(VERSION_PLACEHOLDER, version)


def ensure_jars(version: str = KAFKA_VERSION, cache_dir: Path | None = None) -> list[Path]:
    """Return the broker's runtime jars, resolving them with Maven only if not cached yet.

    Idempotent: once the marker is written, later calls only list files (no JVM, no network).
    Raises ``MavenMissing`` when resolution is needed but ``mvn`` is absent, and
    ``JarsUnresolvable`` (with Maven's last output lines) when Maven fails.
    """
    lib = lib_dir(version, cache_dir)
    lib.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(lib.parent / ".lock"):
        cached = cached_jars(lib)
        if cached is not None:
            log.debug("kafka %s jars already resolved in %s", version, lib)
            return cached
        mvn = _find_mvn()
        if mvn is None:
            raise MavenMissing("mvn is not on PATH; it is needed once to fetch the Kafka jars")
        log.info("resolving kafka %s jars with Maven into %s (first time only)", version, lib)
        jars = _resolve(mvn, version, lib)
        _write_marker(lib, jars)
        return jars


def cached_jars(lib: Path) -> list[Path] | None:
    """The jars named by a complete resolution's marker, or None if anything is missing."""
    marker = lib / MARKER_NAME
    if not marker.is_file():
        return None
    names = [line for line in marker.read_text(encoding="utf-8").splitlines() if line]
    jars = [lib / name for name in names]
    if not jars or not all(jar.is_file() for jar in jars):
        log.warning("jar cache %s is incomplete despite its marker; resolving again", lib)
        return None
    return jars


def _find_mvn() -> str | None:
    """Locate ``mvn`` (a seam for tests)."""
    return shutil.which("mvn")


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock so two processes never run Maven into the same folder."""
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _resolve(mvn: str, version: str, lib: Path) -> list[Path]:
    """Run ``dependency:copy-dependencies`` into an emptied ``lib`` and list what arrived."""
    if lib.exists():
        shutil.rmtree(lib)  # leftovers of an interrupted run; never mix them with a fresh one
    pom = lib.parent / "pom.xml"
    pom.write_text(render_pom(version), encoding="utf-8")
    output = _run_maven(_maven_command(mvn, pom, lib), cwd=lib.parent)
    jars = sorted(lib.glob("*.jar"))
    if not any(jar.name == f"kafka_2.13-{version}.jar" for jar in jars):
        raise JarsUnresolvable(f"Maven finished but kafka_2.13-{version}.jar is not in {lib}",
                               maven_output=output)
    return jars


def _maven_command(mvn: str, pom: Path, lib: Path) -> list[str]:
    """The Maven invocation: quiet, batch, no colour codes, runtime scope only."""
    return [
        mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(pom),
        "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={lib}",
    ]


def _run_maven(command: list[str], *, cwd: Path) -> str:
    """Run Maven; on failure raise ``JarsUnresolvable`` carrying its last output lines."""
    try:
        done = subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=MAVEN_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise JarsUnresolvable(f"Maven did not finish within {MAVEN_TIMEOUT_S:.0f} s") from exc
    output = done.stdout or ""
    if done.returncode != 0:
        tail = _tail(output)
        raise JarsUnresolvable(f"Maven exited with {done.returncode}:\n{tail}", maven_output=tail)
    return output


def _write_marker(lib: Path, jars: list[Path]) -> None:
    """Record a finished resolution; written atomically so a crash leaves no half marker."""
    tmp = lib / f"{MARKER_NAME}.tmp"
    tmp.write_text("".join(f"{jar.name}\n" for jar in jars), encoding="utf-8")
    tmp.replace(lib / MARKER_NAME)


def _tail(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
