"""Credentials never leave the plugin: masked config, redacted librdkafka errors, and a
refused login or TLS handshake as one line (issue 18, "Real authentication").

Regression tests for what the SASL_SSL tests (tests/test_kafka_auth.py) rely on, runnable
without a broker.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from confluent_kafka import KafkaError

from broker_plugin.errors import UserError
from broker_plugin.serving.config import is_secret, mask_secrets, redact
from broker_plugin.serving.kafka_errors import FatalKafkaError, KafkaAuthError, raise_fatal
from tests.run_config import serving_config

#: Every librdkafka (or registry client) key that carries a credential.
SECRET_KEYS = [
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.truststore.password",
    "ssl.key.pem",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "sasl.oauthbearer.assertion.private.key.pem",
    "sasl.jaas.config",
    "basic.auth.user.info",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_credential_keys_are_secret(key: str) -> None:
    assert is_secret(key)
    assert mask_secrets({key: "v"})[key] == "***"


@pytest.mark.parametrize(
    "key", ["sasl.username", "sasl.mechanisms", "security.protocol", "ssl.ca.location"]
)
def test_plain_keys_are_shown(key: str) -> None:
    assert not is_secret(key)
    assert mask_secrets({key: "v"})[key] == "v"


def test_startup_description_shows_no_secret_of_any_kind() -> None:
    """Every -X credential, --sasl-password and the registry URL's password are masked."""
    settings = {key: f"S{i}cret-value" for i, key in enumerate(SECRET_KEYS)}
    config = serving_config(
        kafka_settings={**settings, "sasl.username": "alice"},
        sasl_password="flag-secret",
        schema_registry_url="https://reg-user:reg-secret@registry.example/", schema_dir=None,
    )
    shown = json.dumps(config.describe())
    for value in [*settings.values(), "flag-secret", "reg-secret"]:
        assert value not in shown
    assert '"sasl.username": "alice"' in shown
    assert sorted(config.secret_values()) == sorted(
        [*settings.values(), "flag-secret", "reg-secret"]
    )


def test_redact_replaces_every_secret_longest_first() -> None:
    text = "login pw=abc123 and abc123x, also abc"
    assert redact(text, ["abc", "abc123", "abc123x", ""]) == "login pw=*** and ***, also ***"
    assert redact("nothing here", []) == "nothing here"


def test_a_refused_login_is_a_user_error_naming_what_to_check() -> None:
    err = KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: invalid creds")
    with pytest.raises(KafkaAuthError) as caught:
        raise_fatal(err, "kafka client")
    assert isinstance(caught.value, UserError)  # one line and exit status 2 from the CLI
    assert "kafka refused the login (_AUTHENTICATION" in str(caught.value)
    assert "BROKER_PLUGIN_SASL_PASSWORD" in str(caught.value)


def test_a_failed_tls_handshake_names_the_ca() -> None:
    err = KafkaError(KafkaError._SSL, "SSL handshake failed: certificate verify failed")
    with pytest.raises(KafkaAuthError, match=r"TLS with kafka failed .*ssl.ca.location"):
        raise_fatal(err, "kafka client")


def test_other_fatal_errors_stay_service_stops() -> None:
    with pytest.raises(FatalKafkaError):
        raise_fatal(KafkaError(KafkaError._FATAL, "boom"), "commit")


@pytest.mark.slow
def test_a_setting_librdkafka_refuses_is_one_line_without_the_secret() -> None:
    """An unknown -X key used to end in a KafkaException traceback from the client's
    constructor; now one line (exit status 2) that echoes no credential."""
    result = subprocess.run(
        [
            sys.executable, "-m", "broker_plugin", "run", "--bootstrap-servers", "127.0.0.1:9",
            "--input-topic", "in", "--output-topic", "out", "--dlq-topic", "dlq",
            "--group-id", "g", "--survey", "compact", "--no-metrics",
            "-X", "sasl.password=Hunter2secret", "-X", "no.such.property=1",
        ],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "BROKER_PLUGIN_SASL_PASSWORD": "Hunter3secret"},
    )  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stderr[-2000:]
    assert errors == [
        'error: librdkafka refused the Kafka settings: No such configuration property: '
        '"no.such.property" (check the -X settings, BROKER_PLUGIN_KAFKA_SETTINGS)'
    ], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for secret in ("Hunter2secret", "Hunter3secret"):
        assert secret not in result.stdout + result.stderr
