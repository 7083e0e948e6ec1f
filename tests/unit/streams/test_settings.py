from __future__ import annotations

from pathlib import Path

import pytest

from driftline.streams.settings import Settings, SettingsError, load_settings


def test_defaults_name_the_design_topics() -> None:
    s = load_settings(environ={})
    assert (s.topic_events, s.topic_predictions, s.topic_deadletter, s.topic_training_examples) == (
        "events", "predictions", "deadletter", "training-examples")


def test_environment_overrides_file_and_flags_override_environment(tmp_path: Path) -> None:
    config = tmp_path / "driftline.toml"
    config.write_text('broker = "file:1"\nbatch_max_records = 10\nmodels = ["a", "b"]\n')
    s = load_settings(config, environ={"DRIFTLINE_BROKER": "env:2"})
    assert (s.broker, s.batch_max_records, s.models) == ("env:2", 10, ("a", "b"))
    assert s.with_overrides(broker="flag:3", registry=None).broker == "flag:3"


def test_config_file_may_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('registry = "/srv/models"\n')
    assert load_settings(environ={"DRIFTLINE_CONFIG": str(config)}).registry == Path("/srv/models")


def test_lists_parse_from_comma_separated_environment_values() -> None:
    assert load_settings(environ={"DRIFTLINE_MODELS": "fraud, churn,"}).models == ("fraud", "churn")


@pytest.mark.parametrize(("environ", "setting"), [
    ({"DRIFTLINE_BATCH_MAX_RECORDS": "many"}, "batch_max_records"),
    ({"DRIFTLINE_POLL_TIMEOUT_MS": "0"}, "poll_timeout_ms"),
])
def test_a_badly_typed_value_names_the_setting(environ: dict[str, str], setting: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(environ=environ)
    assert error.value.setting == setting


def test_unknown_keys_in_the_config_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("bach_max_records = 5\n")
    with pytest.raises(SettingsError, match="unknown settings"):
        load_settings(config, environ={})


def test_a_wrongly_typed_toml_value_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("batch_max_records = true\n")
    with pytest.raises(SettingsError, match="not an integer"):
        load_settings(config, environ={})


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_public_view_is_json_ready() -> None:
    view = Settings().public()
    assert view["registry"] == ".driftline/registry" and view["models"] == []


@pytest.mark.parametrize(("raw", "expected"), [("off", False), ("0", False), ("true", True), ("Yes", True)])
def test_switches_parse_from_words(raw: str, expected: bool) -> None:
    assert load_settings(environ={"DRIFTLINE_MONITORS": raw}).monitors is expected


def test_a_switch_that_is_not_a_word_for_on_or_off_is_refused() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(environ={"DRIFTLINE_MONITORS": "maybe"})
    assert error.value.setting == "monitors"


def test_settings_survive_a_trip_through_the_environment() -> None:
    custom = Settings(broker="h:1", registry=Path("/r"), models=("a", "b"), monitors=False,
                      drift_target_arl=3e6, drift_river=(), metrics_port=0)
    assert load_settings(environ=custom.to_environ()) == custom
