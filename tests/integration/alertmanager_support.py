"""A real Alertmanager (Debian's ``prometheus-alertmanager``) for tests, on free loopback ports.

Started with a config and a storage folder of the test's own; `stop` and `start` again keep the
same ports and storage, as a restarted Alertmanager would (its alerts live in memory and are lost:
whoever sends them must send them again).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftline.streams.broker import free_port

INSTALL_HINT = "install the Debian package 'prometheus-alertmanager' (scripts/setup-env.sh does so as root)"
READY_TIMEOUT_S = 30.0
BINARIES = ("prometheus-alertmanager", "alertmanager")


def alertmanager_binary() -> str:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"no Alertmanager on PATH: {INSTALL_HINT}")


@dataclass
class AlertmanagerServer:
    """One Alertmanager process notifying ``notify_url`` of every group, firing and resolved, at once."""

    data_dir: Path
    #: Where Alertmanager sends its notifications (a webhook receiver, resolved ones included).
    notify_url: str
    port: int = 0
    cluster_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = alertmanager_binary()
        self.port = self.port or free_port()
        config = self.data_dir / "alertmanager.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "route": {"receiver": "test", "group_by": ["alertname", "model"], "group_wait": "1s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "test", "webhook_configs": [{"url": self.notify_url,
                                                                 "send_resolved": True}]}],
        }))
        with (self.data_dir / "alertmanager.log").open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.path={self.data_dir / 'storage'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
                stdout=log, stderr=subprocess.STDOUT)
        self._await_ready()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds active (silenced, inhibited too)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as response:
            alerts: list[dict[str, Any]] = json.load(response)
        return [a for a in alerts if all(a["labels"].get(k) == v for k, v in filters.items())]

    def log_tail(self, lines: int = 30) -> str:
        text = (self.data_dir / "alertmanager.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _await_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"alertmanager exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)  # polling a condition with a deadline
        pytest.fail(f"alertmanager not ready within {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")
