"""The one settings object, built once at start-up.

Precedence, highest first: command-line flags, ``DRIFTLINE_<NAME>`` environment variables, the
TOML config file (``--config`` or ``DRIFTLINE_CONFIG``), the defaults below. This is the only
module that reads ``os.environ``. A value that does not parse as its declared type stops the
process with a message naming the setting and where it came from; an unknown key in the config
file does too, since a misspelt setting silently left at its default is a 3 a.m. surprise.

Every field is documented in README.md ("Settings reference"); ``driftline settings`` prints the
effective values. Secrets (the SASL password, a private key's password) are ``Secret`` values: they
print as ``***`` everywhere (``public()``, ``repr``, log lines), may come from the environment or
from a file named by a ``*_file`` setting, and are refused in the config file, which tends to end
up in a repository or an image.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "DRIFTLINE_"


class Secret:
    """A value that must never be printed: ``str`` and ``repr`` show ``***`` (or nothing if unset).

    ``reveal()`` is the one way to the value, called only where a client needs it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return "***" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))


#: The value of a secret that was not given.
NO_SECRET = Secret()


class SettingsError(Exception):
    """A setting is missing, unknown or badly typed."""

    def __init__(self, message: str, *, setting: str | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting
        self.source = source


@dataclass(frozen=True)
class Settings:
    """Effective configuration of every driftline command."""

    #: Kafka bootstrap address (host:port) of every client driftline runs.
    broker: str = "127.0.0.1:9092"
    #: How long a Kafka request (a produce, a fetch, a commit) may wait for its answer. Outputs
    #: not acknowledged within it are produced again once the broker answers (never dropped), so
    #: this bounds how soon an outage is noticed, not how long one may last.
    kafka_request_timeout_ms: int = 30_000
    #: Pause between two attempts of a failed Kafka request (aiokafka's own retries).
    kafka_retry_backoff_ms: int = 200
    #: Transport security of every Kafka client: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    #: (``streams.security`` checks that the settings below fit it before anything connects).
    kafka_security_protocol: str = "PLAINTEXT"
    #: PEM file of the CA certificates that signed the brokers' certificates; empty means the
    #: system's trust store.
    kafka_ssl_cafile: str = ""
    #: Client certificate (PEM, may hold the key too) and private key, for brokers that require
    #: TLS client authentication.
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    #: Password of an encrypted private key (``DRIFTLINE_KAFKA_SSL_KEY_PASSWORD``), or a file holding it.
    kafka_ssl_key_password: Secret = NO_SECRET
    kafka_ssl_key_password_file: str = ""
    #: Check that a broker's certificate names the host connected to. Off only for a test cluster.
    kafka_ssl_check_hostname: bool = True
    #: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, with a SASL protocol.
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    #: The SASL password (``DRIFTLINE_KAFKA_SASL_PASSWORD``), or a file holding it (a mounted secret).
    kafka_sasl_password: Secret = NO_SECRET
    kafka_sasl_password_file: str = ""
    #: Port and data folder of the local broker that ``driftline kafka start`` runs.
    kafka_port: int = 9092
    kafka_data_dir: Path = Path(".driftline/kafka")
    registry: Path = Path(".driftline/registry")
    app_id: str = "driftline"
    #: Consumer group of the scoring agents; workers sharing it split the events partitions.
    group_id: str = "driftline-scoring"

    topic_events: str = "events"
    topic_predictions: str = "predictions"
    #: Predictions of shadow versions (same key and shape, ``variant: shadow``), never an answer.
    topic_shadow_predictions: str = "shadow-predictions"
    topic_labels: str = "labels"
    topic_training_examples: str = "training-examples"
    topic_alerts: str = "alerts"
    topic_metrics: str = "metrics"
    topic_deadletter: str = "deadletter"
    topic_model_updates: str = "model-updates"
    #: Internal topics of the label join, co-partitioned with predictions: labels re-keyed and
    #: re-partitioned by event id, the join store's changelog, and joined outcomes per model.
    topic_labels_by_id: str = "driftline-labels-by-id"
    topic_join_changelog: str = "driftline-join-changelog"
    topic_outcomes: str = "driftline-outcomes"
    #: Open alerts by dedup key (compacted), so an alert outlives the worker that raised it.
    topic_alert_state: str = "driftline-alert-state"
    #: Partitions given to topics driftline creates itself (``driftline topics create``).
    topic_partitions: int = 6

    #: Models served; empty means every model in the registry that has a champion.
    models: tuple[str, ...] = ()
    #: Model for events that name none; may be left empty when exactly one model is served.
    default_model: str = ""

    #: Upper bound of one scoring micro-batch (records per consumer poll).
    batch_max_records: int = 2000
    #: How long a poll waits for the first record; bounds the latency added when traffic is low.
    poll_timeout_ms: int = 50
    #: Linger of records produced one by one (the drift codes, ``driftline produce``). The score
    #: agent's outputs go as whole record batches, closed, which never linger (see streams.sending).
    producer_linger_ms: int = 1
    producer_max_batch_bytes: int = 65536
    #: Acknowledged offsets are committed at most this often (and always on idle, rebalance and
    #: stop). One commit per micro-batch made the broker and the worker spend more on commits
    #: than on scoring at low rates; a crash re-scores at most this much traffic.
    commit_interval_ms: int = 100
    #: Longest an ONNX Runtime call may take on one batch before it is stopped and the batch is
    #: answered by the model's fallback (0: no limit). Batches take milliseconds; a second means stuck.
    inference_timeout_ms: int = 1000
    #: Failing batches in a row that open a champion's circuit breaker, and how long it stays open
    #: before a probe batch is let through (the fallback answers meanwhile).
    breaker_failures: int = 3
    breaker_cooldown_ms: int = 30_000
    #: Automatic rollback of a canary whose error share (or dead-letter share) exceeds its
    #: champion's by ``rollout_error_margin``, or whose per-batch inference p99 is more than
    #: ``rollout_latency_ratio`` times the champion's, once it has ``rollout_min_events`` events;
    #: judged every ``rollout_evaluate_ms`` by each worker on the traffic it scored.
    rollout_auto: bool = True
    rollout_min_events: int = 200
    rollout_error_margin: float = 0.05
    rollout_latency_ratio: float = 3.0
    rollout_evaluate_ms: int = 10_000
    #: Events larger than this go to the dead-letter topic unparsed.
    max_event_bytes: int = 100_000
    #: Raw payloads in dead-letter records are cut to this size (and marked truncated).
    deadletter_payload_max_bytes: int = 65536

    #: Drift monitoring (histograms, River detectors, alerts); off means scoring only.
    monitors: bool = True
    #: Internal topic carrying the scoring workers' bin codes to the monitor agent.
    topic_drift_counts: str = "driftline-drift-counts"
    #: How often a worker publishes the bin codes of the events it scored (and, with the label
    #: join, its binary predictions). Windows are cut at exact event counts whatever this is; it
    #: only delays an alert by up to this long. Each record costs about half a millisecond of
    #: CPU end to end, so at low rates a short interval is mostly overhead (500 against 100 ms:
    #: the worker's CPU at 1,000 events/s fell by ~3 points of a core, docs/PERFORMANCE.md).
    drift_flush_ms: int = 500
    #: Events per drift window, judged every window/sub-windows events (the acceptance-tested
    #: configuration: 500/5 detects a 0.5-sigma shift ~340 events after it starts).
    drift_window_size: int = 500
    drift_sub_windows: int = 5
    #: ``psi`` or ``js``.
    drift_statistic: str = "psi"
    #: ``calibrated`` (to drift_target_arl) or a fixed cutoff such as ``0.2``.
    drift_threshold: str = "calibrated"
    #: Expected events between false alarms, all features and detectors of a model together.
    drift_target_arl: float = 1e7
    #: Evaluations above threshold before raising; below half of it before resolving.
    drift_raise_after: int = 1
    drift_resolve_after: int = 3
    #: Events after a resolution before the same alert may be raised again.
    drift_cooldown_events: int = 5000
    #: River detectors on the prediction score (ADWIN, PageHinkley, KSWIN, ...); empty for none.
    drift_river: tuple[str, ...] = ("ADWIN",)
    #: River detectors see means of this many consecutive scores (cheaper, and mergeable).
    drift_score_chunk: int = 20
    #: How often the monitor publishes drift statistics to the metrics topic.
    metrics_snapshot_ms: int = 10_000

    #: The delayed-label join (labels to predictions, training examples, realised performance).
    #: Off: predictions carry no features and nothing reads the labels topic.
    label_join: bool = True
    #: A prediction waits this long for its label (a label this long for its prediction) before it
    #: expires; joined and expired ids are remembered as long again, to tell duplicates and late
    #: labels apart from unknown ids.
    label_ttl_ms: int = 7 * 24 * 3600 * 1000
    #: The join commits a transaction (outputs, changelog, offsets) this often; training examples
    #: become visible to ``read_committed`` readers at this pace, and a crash re-joins at most this.
    join_commit_interval_ms: int = 500
    #: Largest label record; larger ones are dead-lettered unparsed.
    max_label_bytes: int = 10_000
    #: Local state (the join store, Faust's data folder); one subfolder per worker slot.
    state_dir: Path = Path(".driftline/state")
    #: A transaction of a worker that died is aborted by the broker after this long (a restarted
    #: worker in the same state slot aborts it at once); readers of the join's outputs wait that long.
    transaction_timeout_ms: int = 10_000
    #: Labelled events per realised-performance window, and between two evaluations of it.
    perf_window_size: int = 1000
    perf_evaluate_every: int = 200
    #: Performance floors, ``metric=value`` (ceilings for mae, rmse, log_loss, brier), e.g.
    #: ``accuracy=0.8,roc_auc=0.7``; a windowed metric past its floor raises a ``performance`` alert.
    perf_floors: tuple[str, ...] = ()
    #: Labelled events between false alarms of one model version's concept- and label-drift tests
    #: (labels are rarer than events, hence a smaller budget than ``drift_target_arl``; at 1e6 a
    #: 0.12 → 0.20 error-rate change is found ~385 labelled events after it starts).
    perf_target_arl: float = 1e6
    #: Fairness of every sensitive segment a card declares: events per window (predictions for
    #: parity and impact, labelled events for equal opportunity and predictive parity), events
    #: between evaluations, the denominator a group needs to be judged, the events between false
    #: alarms of one segment's tests, and limits ``metric=value`` replacing the defaults
    #: (demographic_parity=0.1, disparate_impact=0.8, equal_opportunity=0.1, predictive_parity=0.1).
    fairness_window_size: int = 20_000
    fairness_evaluate_every: int = 1000
    fairness_min_samples: int = 500
    fairness_target_arl: float = 1e6
    fairness_limits: tuple[str, ...] = ()

    #: Port of the ``/metrics``, ``/healthz`` and ``/readyz`` endpoint; 0 turns it off.
    metrics_port: int = 9400
    #: Address it binds: loopback unless a deployment opens it (a container does, for Prometheus).
    metrics_host: str = "127.0.0.1"

    #: Longest time the broker holds an empty fetch. Short, because a fetch already in flight when
    #: new events arrive is a latency floor (500 ms, aiokafka's default, showed in the p99).
    fetch_max_wait_ms: int = 20
    #: Bytes the broker waits for (up to ``fetch_max_wait_ms``) before answering the scoring
    #: consumer's fetch. At low rates every event otherwise came in a fetch of its own: at 1,000
    #: events/s the worker scored ~200 micro-batches a second, each a fetch, a produce and a batch's
    #: fixed cost, 28-30% of a core; waiting for 16 KiB makes it ~50 batches (13-14%) for up to
    #: ``fetch_max_wait_ms`` more latency at such rates. Above ~5,000 events/s it fills in < 5 ms.
    #: 1 answers at the first byte. Measured and not taken (2026-12-03): 32 KiB with a 50 ms wait
    #: halved the batches at 1,000 events/s (~21 a second, 11-12% of a core), but the 50 ms wait cost
    #: 30-80% more CPU per event at full speed (scoring 0.030-0.047 against 0.025 CPU s per 1k in
    #: the same hour). With a 20 ms wait more bytes would change little at 1,000 events/s: 16 KiB
    #: already takes ~24 ms to arrive there (~42 batches a second), so the wait sets the pace.
    fetch_min_bytes: int = 16_384

    #: Where ``driftline alerts forward`` delivers the alerts topic: Alertmanager's base URL (the
    #: forwarder posts to ``/api/v2/alerts``) and/or a webhook taking each CloudEvent as it is.
    alertmanager_url: str = ""
    alert_webhook_url: str = ""
    #: HMAC-SHA256 key that signs each webhook body (``X-Driftline-Signature``), given directly or as
    #: a file holding it; never printed or logged.
    alert_webhook_secret: str = field(default="", repr=False)
    alert_webhook_secret_file: str = ""
    #: Longest wait for one receiver's answer; no answer in time is retried like a refused connection.
    alert_delivery_timeout_ms: int = 5_000
    #: Longest pause between two attempts at a receiver that is down (backoff from 0.5 s, doubling).
    alert_retry_max_ms: int = 30_000
    #: Open alerts are sent to Alertmanager again this often, each valid for four times as long, so
    #: Alertmanager never resolves a long drift by itself (Prometheus's own rhythm: 1 min, 4 min).
    alertmanager_resend_ms: int = 60_000
    #: Prefix that turns an alert's ``runbook`` path into the ``runbook_url`` annotation.
    alert_runbook_base_url: str = ""
    #: Consumer group of the forwarders; forwarders sharing it split the alerts partitions.
    alert_forward_group: str = "driftline-alerts-forward"

    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    log_level: str = "info"

    def with_overrides(self, **overrides: Any) -> Settings:
        """Apply flags given on the command line (``None`` means "not given")."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return _coerce_all(dataclasses.replace(self, **given), source="command line") if given else self

    def to_environ(self) -> dict[str, str]:
        """``DRIFTLINE_*`` variables from which ``load_settings`` rebuilds exactly these settings.

        How a child process (a worker in a test, a benchmark mode) is handed its configuration;
        secrets are revealed here, since the child needs them, so never print the result.
        """
        environ = {}
        for f in fields(self):
            name, value = f.name, getattr(self, f.name)
            value = value.reveal() if isinstance(value, Secret) else _printable(value)
            rendered = ",".join(value) if isinstance(value, list) else str(value)
            if isinstance(value, bool):
                rendered = "on" if value else "off"
            environ[ENV_PREFIX + name.upper()] = rendered
        return environ

    def public(self) -> dict[str, Any]:
        """The effective values as JSON-ready data, secrets shown as ``***``."""
        shown = {f.name: _printable(getattr(self, f.name)) for f in fields(self)}
        shown.update({name: "***" for name in SECRETS if shown[name]})
        return shown


def load_settings(config: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from defaults, the config file and the environment."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config = config or (Path(env[f"{ENV_PREFIX}CONFIG"]) if env.get(f"{ENV_PREFIX}CONFIG") else None)
    if config is not None:
        values.update(_read_config_file(config))
    for f in fields(Settings):
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _parse(f.name, raw, source=f"${ENV_PREFIX}{f.name.upper()}")
    return _coerce_all(Settings(**values), source=str(config) if config else "environment")


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}", source=str(path)) from None
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(f"config file {path}: unknown settings {unknown}", setting=unknown[0],
                            source=str(path))
    secrets = sorted(name for name in data if _HINTS[name] is Secret)
    if secrets:
        raise SettingsError(f"config file {path}: {secrets[0]} may not be written in a config file; give it "
                            f"as ${ENV_PREFIX}{secrets[0].upper()} or name a file holding it in "
                            f"{secrets[0]}_file", setting=secrets[0], source=str(path))
    return {k: _parse(k, v, source=str(path)) if isinstance(v, str) else v for k, v in data.items()}


def _parse(name: str, raw: str, *, source: str) -> Any:
    kind = _HINTS[name]
    try:
        if kind is bool:
            return _parse_bool(raw)
        if kind in (int, float, Path, Secret):
            return kind(raw)
        if kind == tuple[str, ...]:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError:
        raise SettingsError(f"setting {name} from {source}: {raw!r} is not a valid {kind.__name__}",
                            setting=name, source=source) from None


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _coerce_all(settings: Settings, *, source: str) -> Settings:
    """Check every value has its declared type; TOML and flags can hand over anything."""
    fixed: dict[str, Any] = {}
    for f in fields(settings):
        value, kind = getattr(settings, f.name), _HINTS[f.name]
        if kind is Path and isinstance(value, str):
            fixed[f.name] = Path(value)
        elif kind is Secret and not isinstance(value, Secret):
            fixed[f.name] = Secret(value) if isinstance(value, str) else _not_a_secret(f.name, source)
        elif f.name == "log_level":
            fixed[f.name] = _log_level(value, source)
        elif f.name in _CHOICES and value not in _CHOICES[f.name]:
            choices = ", ".join(c or repr(c) for c in _CHOICES[f.name])
            raise SettingsError(f"setting {f.name} from {source}: {value!r} is not one of {choices}",
                                setting=f.name, source=source)
        elif kind == tuple[str, ...] and isinstance(value, list | str):
            fixed[f.name] = _parse(f.name, value, source=source) if isinstance(value, str) else tuple(value)
        elif kind is bool and not isinstance(value, bool):
            raise SettingsError(f"setting {f.name} from {source}: {value!r} is not true or false",
                                setting=f.name, source=source)
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise SettingsError(f"setting {f.name} from {source}: {value!r} is not an integer",
                                setting=f.name, source=source)
        elif kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SettingsError(f"setting {f.name} from {source}: {value!r} is not a number",
                                setting=f.name, source=source)
        elif kind is float and isinstance(value, int):
            fixed[f.name] = float(value)
        elif kind is int and (value < 0 or (value == 0 and f.name not in _ZERO_ALLOWED)):
            raise SettingsError(f"setting {f.name} from {source}: must be positive, got {value}",
                                setting=f.name, source=source)
    return dataclasses.replace(settings, **fixed) if fixed else settings


def _log_level(value: Any, source: str) -> str:
    """The level in lower case (any case is accepted, as by ``logging``)."""
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        raise SettingsError(f"setting log_level from {source}: {value!r} is not one of "
                            f"{', '.join(LOG_LEVELS)}", setting="log_level", source=source)
    return value.lower()


def _not_a_secret(name: str, source: str) -> Secret:
    raise SettingsError(f"setting {name} from {source}: not a string", setting=name, source=source)


def _printable(value: Any) -> Any:
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


_HINTS: dict[str, Any] = get_type_hints(Settings)
#: Settings whose value is never printed (``driftline settings`` shows ``***``) nor kept in a repr.
#: Plain-string settings that are secrets (``Secret`` ones print as ``***`` by themselves).
SECRETS = frozenset({"alert_webhook_secret"})
#: Integer settings for which 0 means "off" rather than a mistake.
_ZERO_ALLOWED = frozenset({"metrics_port", "producer_linger_ms", "commit_interval_ms",
                           "inference_timeout_ms"})
#: What ``log_level`` may be (``logging``'s level names, in any case).
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
#: Settings whose value must be one of a few words (Kafka's own spelling).
_CHOICES: dict[str, tuple[str, ...]] = {
    "kafka_security_protocol": ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
    "kafka_sasl_mechanism": ("", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
}
