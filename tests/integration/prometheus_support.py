"""A real Prometheus (the Debian package's binary) for tests, on a free loopback port.

Why the real server: a dashboard or a rule is only right if Prometheus itself parses and evaluates
its PromQL against what a worker really exposes; a regex over the JSON proves neither.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftline.streams.broker import free_port

INSTALL_HINT = "install the Debian package 'prometheus' (scripts/setup-env.sh does so as root)"
READY_TIMEOUT_S = 30.0


@dataclass
class PrometheusServer:
    """One Prometheus process scraping ``targets`` every second, evaluating ``rule_files``."""

    data_dir: Path
    targets: list[str]
    rule_files: list[Path]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail(f"no prometheus on PATH: {INSTALL_HINT}")
        self.port = free_port()
        config = self.data_dir / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML, and needs no YAML writer
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [{"job_name": "driftline", "static_configs": [{"targets": self.targets}]}],
        }))
        with (self.data_dir / "prometheus.log").open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"], stdout=log, stderr=subprocess.STDOUT)
        self._await_ready()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return ``data``; a non-success answer fails the test."""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # 400 carries Prometheus's parse error
            body = json.load(exc)
        assert body["status"] == "success", f"{path} {params}: {body.get('error')}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (or matrix) as Prometheus returns it."""
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def log_tail(self, lines: int = 30) -> str:
        text = (self.data_dir / "prometheus.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _await_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)  # polling a condition with a deadline
        pytest.fail(f"prometheus not ready within {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")
