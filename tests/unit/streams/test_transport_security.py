"""Transport security settings: secrets never print, unfit combinations stop with the setting's name,
and the clients (aiokafka and Faust) get the same TLS and SASL keywords."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from driftline.streams.broker.security import prepare
from driftline.streams.cli import main
from driftline.streams.connection import HandshakeRefused, check_handshake, client_options, faust_credentials
from driftline.streams.security import TransportSettingsError, transport_security
from driftline.streams.settings import Secret, Settings, SettingsError, load_settings
from tests.command import DRIFTLINE

PASSWORD = "s3cret-Password-4-tests"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a client certificate and an unencrypted key (what ``kafka start --sasl-ssl-port`` makes)."""
    directory = tmp_path_factory.mktemp("tls") / "security"
    prepare(directory, 1, ("driftline",), formatted=False)
    return directory


@pytest.fixture
def sasl_ssl(certificates: Path) -> Settings:
    return Settings(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=str(certificates / "ca.pem"),
                    kafka_ssl_certfile=str(certificates / "client.pem"),
                    kafka_ssl_keyfile=str(certificates / "client.key"), kafka_sasl_mechanism="SCRAM-SHA-512",
                    kafka_sasl_username="driftline", kafka_sasl_password=Secret(PASSWORD))


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    yield
    transport_security.cache_clear()


def test_a_secret_never_prints() -> None:
    secret = Secret(PASSWORD)
    assert str(secret) == "***" and PASSWORD not in repr(secret) and f"{secret}" == "***"
    assert secret.reveal() == PASSWORD and secret == Secret(PASSWORD) and not Secret()


def test_settings_show_secrets_as_stars_but_hand_them_to_children(sasl_ssl: Settings) -> None:
    assert sasl_ssl.public()["kafka_sasl_password"] == "***" and PASSWORD not in repr(sasl_ssl)
    assert Settings().public()["kafka_sasl_password"] == ""
    environ = sasl_ssl.to_environ()
    assert environ["DRIFTLINE_KAFKA_SASL_PASSWORD"] == PASSWORD
    assert load_settings(environ=environ) == sasl_ssl


def test_driftline_settings_prints_no_secret(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_KAFKA_SASL_PASSWORD", PASSWORD)
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert PASSWORD not in out and orjson.loads(out)["kafka_sasl_password"] == "***"


def test_a_secret_in_the_config_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'kafka_sasl_password = "{PASSWORD}"\n')
    with pytest.raises(SettingsError) as error:
        load_settings(config, environ={})
    assert error.value.setting == "kafka_sasl_password" and PASSWORD not in str(error.value)
    assert "DRIFTLINE_KAFKA_SASL_PASSWORD" in str(error.value)


@pytest.mark.parametrize(("setting", "value"), [("kafka_security_protocol", "TLS"),
                                                ("kafka_sasl_mechanism", "GSSAPI")])
def test_protocol_and_mechanism_are_kafkas_words(setting: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(environ={f"DRIFTLINE_{setting.upper()}": value})
    assert error.value.setting == setting


def test_plaintext_is_the_default_and_adds_only_the_protocol() -> None:
    options = client_options(Settings())
    assert options["security_protocol"] == "PLAINTEXT"
    assert not {"ssl_context", "sasl_mechanism", "sasl_plain_password"} & set(options)
    assert faust_credentials(Settings()) is None


def test_sasl_ssl_gives_aiokafka_and_faust_the_same_security(sasl_ssl: Settings) -> None:
    options = client_options(sasl_ssl)
    assert (options["security_protocol"], options["sasl_mechanism"], options["sasl_plain_username"],
            options["sasl_plain_password"]) == ("SASL_SSL", "SCRAM-SHA-512", "driftline", PASSWORD)
    context: ssl.SSLContext = options["ssl_context"]
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    credentials = faust_credentials(sasl_ssl)
    assert credentials is not None and credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512" and credentials.ssl_context is context
    assert PASSWORD not in repr(credentials)


def test_hostname_checking_can_be_turned_off_for_a_test_cluster(sasl_ssl: Settings) -> None:
    context = client_options(dataclasses.replace(sasl_ssl, kafka_ssl_check_hostname=False))["ssl_context"]
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_the_password_may_come_from_a_file(sasl_ssl: Settings, tmp_path: Path) -> None:
    (tmp_path / "password").write_text(PASSWORD + "\n")
    from_file = dataclasses.replace(sasl_ssl, kafka_sasl_password=Secret(),
                                    kafka_sasl_password_file=str(tmp_path / "password"))
    assert client_options(from_file)["sasl_plain_password"] == PASSWORD


def test_ssl_only_gives_faust_ssl_credentials(sasl_ssl: Settings) -> None:
    tls = dataclasses.replace(sasl_ssl, kafka_security_protocol="SSL", kafka_sasl_mechanism="",
                              kafka_sasl_username="", kafka_sasl_password=Secret())
    credentials = faust_credentials(tls)
    assert credentials is not None and credentials.protocol.value == "SSL"
    assert "sasl_mechanism" not in client_options(tls)


UNFIT = {
    "a mechanism without a SASL protocol": ({"kafka_security_protocol": "SSL"}, "kafka_sasl_mechanism"),
    "SASL without a mechanism": ({"kafka_sasl_mechanism": ""}, "kafka_sasl_mechanism"),
    "a mechanism without a username": ({"kafka_sasl_username": ""}, "kafka_sasl_username"),
    "no password": ({"kafka_sasl_password": Secret()}, "kafka_sasl_password"),
    "a password given twice": ({"kafka_sasl_password_file": "/etc/hostname"}, "kafka_sasl_password"),
    "an unreadable password file": ({"kafka_sasl_password": Secret(), "kafka_sasl_password_file": "/no/such"},
                                    "kafka_sasl_password_file"),
    "a CA file that is not there": ({"kafka_ssl_cafile": "/no/such/ca.pem"}, "kafka_ssl_cafile"),
    "a CA file that is not PEM": ({"kafka_ssl_cafile": __file__}, "kafka_ssl_cafile"),
    "a key without its certificate": ({"kafka_ssl_certfile": ""}, "kafka_ssl_certfile"),
    "a CA with a protocol without TLS": ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "kafka_ssl_cafile"),
}


@pytest.mark.parametrize("case", sorted(UNFIT))
def test_unfit_security_settings_name_the_setting(sasl_ssl: Settings, case: str) -> None:
    changes, setting = UNFIT[case]
    with pytest.raises(TransportSettingsError) as error:
        client_options(dataclasses.replace(sasl_ssl, **changes))  # type: ignore[arg-type]
    assert error.value.setting == setting and PASSWORD not in str(error.value)


def test_an_encrypted_key_loads_with_its_password_and_names_the_setting_without(
        sasl_ssl: Settings, certificates: Path, tmp_path: Path) -> None:
    encrypted = tmp_path / "client-encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(certificates / "client.key"), "-aes256", "-passout",
                    f"pass:{PASSWORD}", "-out", str(encrypted)], check=True, capture_output=True)
    with_key = dataclasses.replace(sasl_ssl, kafka_ssl_keyfile=str(encrypted))
    unlocked = dataclasses.replace(with_key, kafka_ssl_key_password=Secret(PASSWORD))
    assert client_options(unlocked)["ssl_context"]
    with pytest.raises(TransportSettingsError) as error:
        client_options(dataclasses.replace(with_key, kafka_ssl_key_password=Secret("wrong")))
    assert error.value.setting == "kafka_ssl_key_password"
    with pytest.raises(TransportSettingsError) as error:
        client_options(with_key)
    assert error.value.setting == "kafka_ssl_keyfile" and "key password" in str(error.value)


def test_a_worker_with_unfit_security_settings_stops_before_kafka_with_one_line(demo_registry: Path) -> None:
    env = {**os.environ, "DRIFTLINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
           "DRIFTLINE_KAFKA_SASL_PASSWORD": PASSWORD}
    done = subprocess.run([*DRIFTLINE, "worker", "--registry", str(demo_registry),
                           "--broker", "127.0.0.1:9"], capture_output=True, text=True, timeout=120,
                          check=False, env=env)
    assert done.returncode == 3
    lines = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(lines) == 1 and "kafka_sasl_mechanism" in lines[0] and "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr + done.stdout


async def test_an_unreachable_broker_is_left_to_the_clients_retries(sasl_ssl: Settings) -> None:
    # Nothing listens on port 9: an outage, not a refusal, so the handshake check does not decide.
    assert await check_handshake(dataclasses.replace(sasl_ssl, broker="127.0.0.1:9")) is None


async def test_a_certificate_for_another_host_is_refused(tmp_path: Path) -> None:
    """Hostname verification: a trusted certificate that names another host fails the handshake."""
    cert, key = tmp_path / "elsewhere.pem", tmp_path / "elsewhere.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=elsewhere.example",
                    "-addext", "subjectAltName=DNS:elsewhere.example"], check=True, capture_output=True)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    settings = Settings(broker=f"127.0.0.1:{port}", kafka_security_protocol="SSL", kafka_ssl_cafile=str(cert))
    try:
        with pytest.raises(HandshakeRefused, match="IP address mismatch"):
            await check_handshake(settings)
    finally:
        server.close()
        await server.wait_closed()
