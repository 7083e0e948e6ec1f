"""docker-compose.yml and the Grafana provisioning cannot run here (no Docker engine, Grafana is in
no reachable registry); these checks catch what a `docker compose config` would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_compose_services_depend_only_on_defined_services() -> None:
    services = compose()["services"]
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name


def test_compose_mounts_files_that_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_workers_use_driftline_settings_that_exist() -> None:
    from streams.settings import Settings

    names = {f"DRIFTLINE_{field.upper()}" for field in Settings.__dataclass_fields__}
    environment = compose()["x-driftline"]["environment"]
    assert set(environment) <= names


def test_prometheus_scrapes_the_port_the_workers_expose() -> None:
    scrape = yaml.safe_load((ROOT / "grafana" / "prometheus.yml").read_text())
    ports = {sd["port"] for job in scrape["scrape_configs"] for sd in job.get("dns_sd_configs", [])}
    assert ports == {int(compose()["x-driftline"]["environment"]["DRIFTLINE_METRICS_PORT"])}


def test_grafana_provisioning_is_valid_yaml_pointing_at_the_dashboards_folder() -> None:
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/driftline.yml").read_text())
    mounts = [v for v in compose()["services"]["grafana"]["volumes"] if v.startswith("./grafana/dashboards")]
    assert provider["providers"][0]["options"]["path"] == mounts[0].split(":")[1]
