"""Child processes of a benchmark run: the process under test and the paced producer.

Why subprocesses: the worker is measured as it runs in production (``driftline worker``), and a
process of its own is what makes its CPU time and peak RSS readable from ``/proc`` without the
harness's own work mixed in. Every child is registered in a :class:`Children` set whose exit stops
whatever is still running (SIGTERM, then SIGKILL), so Ctrl-C or a failed phase leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from driftline.streams.bench.procfs import cpu_seconds, wait_until_stopped
from driftline.streams.settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0
_LOG_TAIL_LINES = 30


class BenchError(Exception):
    """A benchmark phase could not be measured (a child died, a deadline passed)."""


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes a child load exactly ``settings``.

    Every setting is passed as ``DRIFTLINE_<NAME>``, which outranks any config file, and the
    parent's own ``DRIFTLINE_*`` variables are dropped so nothing leaks between modes.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)} | settings.to_environ()


class ChildProcess:
    """One child with its output in a log file; knows how to report and stop itself."""

    def __init__(self, name: str, argv: list[str], settings: Settings, log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.settings = settings
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, f"{self.name} was not started"
        return self._process.pid

    def start(self) -> None:
        with self.log_path.open("ab") as out:  # the child keeps its own descriptor
            self._process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, env=child_environment(self.settings))
        log.debug("started %s (pid %d): %s", self.name, self._process.pid, " ".join(self.argv))

    def exit_code(self) -> int | None:
        """None while running, else the exit status (reaping the child)."""
        return None if self._process is None else self._process.poll()

    def ensure_alive(self) -> None:
        """Raise ``BenchError`` with the child's last log lines if it has exited."""
        code = self.exit_code()
        if code is not None:
            raise BenchError(f"{self.name} exited with {code}:\n{self.log_tail()}")

    def pause(self) -> None:
        """SIGSTOP, returning once the kernel says the process is stopped (it uses no CPU after)."""
        self.send_signal(signal.SIGSTOP)
        wait_until_stopped(self.pid)

    def resume(self) -> None:
        self.send_signal(signal.SIGCONT)

    def send_signal(self, signum: int) -> None:
        """Send ``signum``; ``BenchError`` with the log's tail if the child has exited."""
        self.ensure_alive()
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:  # it exited after the check above and was reaped
            raise BenchError(f"{self.name} exited:\n{self.log_tail()}") from None

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        """SIGTERM (a worker shuts down cleanly), SIGKILL after ``STOP_TIMEOUT_S``; idempotent.

        A paused child is continued after the SIGTERM: a stopped process keeps signals pending."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGCONT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) ignored SIGTERM; killing it", self.name, process.pid)
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Children:
    """The children of one run; leaving the ``with`` block stops every one still running."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._started: list[ChildProcess] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop_all()

    def spawn(self, name: str, module: str, settings: Settings, *args: str) -> ChildProcess:
        """Start ``python -m <module> <args>`` with ``settings`` in its environment."""
        child = ChildProcess(name, [sys.executable, "-m", module, *args], settings,
                             self.log_dir / f"{name}.log")
        self._started.append(child)
        child.start()
        return child

    def stop_all(self) -> None:
        for child in reversed(self._started):
            child.stop()
