"""An optional SASL_SSL listener (SCRAM-SHA-512 over TLS) beside the PLAINTEXT one.

Why: the plugin reaches Rubin's brokers over SASL_SSL with SCRAM-SHA-512, so its handling
of credentials must be tested against a broker that checks them. ``start --sasl-ssl`` makes,
once per state directory, a CA and a broker certificate for 127.0.0.1/localhost with the
openssl CLI (PEM files: Kafka reads them directly, no keystore tooling), and adds one
user's SCRAM credential when the log directory is formatted, as a salted password computed
here (PBKDF2), so the password itself is on no command line and in no file. The PLAINTEXT
listener stays: it is how this script sees that Kafka answers, and what a test's admin
client may use.

Files under ``<state>/tls``: ``ca.pem`` (clients' ``ssl.ca.location``), ``ca-key.pem``,
``broker.pem`` (the encrypted PKCS#8 key and the certificate: Kafka's PEM keystore) and
``key-password`` (that key's password, which Kafka requires for a PEM keystore file).
``<state>/auth.json`` records the mechanism, the user and the listener's port, no secret.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kafka_common import LocalKafkaError, env_flag
from kafka_state import Instance

MECHANISM = "SCRAM-SHA-512"
#: Kafka refuses fewer than 4096 iterations for SCRAM-SHA-512.
SCRAM_ITERATIONS = 4096
DEFAULT_USER = "local-kafka"
LISTENER = "SASL_SSL"


@dataclass(frozen=True)
class Auth:
    """The SASL_SSL listener of an instance: who may log in, and the CA clients must trust."""

    user: str
    ca: Path
    mechanism: str = MECHANISM


def wanted(flag: bool) -> bool:
    """`--sasl-ssl` or LOCAL_KAFKA_SASL_SSL=true."""
    return flag or env_flag("LOCAL_KAFKA_SASL_SSL", False)


def load_auth(instance: Instance) -> Auth | None:
    """The instance's SASL_SSL settings, or None for a PLAINTEXT-only instance."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        data = json.loads(instance.auth_file.read_text())
        return Auth(user=data["user"], ca=instance.tls_dir / "ca.pem", mechanism=data["mechanism"])
    return None


def prepare(instance: Instance, requested: bool) -> tuple[Auth | None, list[str]]:
    """The instance's auth (made now if requested and new) and the storage-format arguments
    that add its SCRAM credential (needed only while the log directory is unformatted)."""
    auth = load_auth(instance)
    formatted = (instance.data_dir / "meta.properties").is_file()
    password = os.environ.get("LOCAL_KAFKA_SCRAM_PASSWORD", "")
    if (requested or auth is not None) and not formatted and not password:
        raise LocalKafkaError(
            "--sasl-ssl needs the user's password in LOCAL_KAFKA_SCRAM_PASSWORD "
            "(read once, when the broker's storage is formatted)"
        )
    if requested and auth is None:
        if formatted:
            raise LocalKafkaError(
                f"{instance.state_dir} was formatted without SASL_SSL; use a new state "
                "directory (or `scripts/local-kafka stop --purge` first) for --sasl-ssl"
            )
        user = os.environ.get("LOCAL_KAFKA_SCRAM_USER", DEFAULT_USER).strip()
        if not re.fullmatch(r"[A-Za-z0-9._-]+", user):
            raise LocalKafkaError(f"LOCAL_KAFKA_SCRAM_USER={user!r} may use letters, digits, . _ -")
        make_tls(instance.tls_dir)
        auth = Auth(user=user, ca=instance.tls_dir / "ca.pem")
        instance.auth_file.write_text(json.dumps({"mechanism": MECHANISM, "user": user}) + "\n")
    if auth is None or formatted:
        return auth, []
    return auth, ["--add-scram", scram_credential(auth.user, password)]


def scram_credential(user: str, password: str) -> str:
    """StorageTool's SCRAM argument carrying the salted password (RFC 5802), not the password."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
    b64 = base64.b64encode
    return (
        f"{MECHANISM}=[name={user},iterations={SCRAM_ITERATIONS},"
        f'salt="{b64(salt).decode()}",saltedpassword="{b64(salted).decode()}"]'
    )


def make_tls(tls_dir: Path) -> None:
    """A CA and a broker certificate (127.0.0.1, localhost) signed by it, once."""
    if (tls_dir / "broker.pem").is_file():
        return
    openssl = shutil.which("openssl")
    if not openssl:
        raise LocalKafkaError("--sasl-ssl needs the openssl CLI to make its certificates")
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    (tls_dir / "key-password").write_text(secrets.token_hex(16))
    (tls_dir / "broker.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
         "-keyout", "ca-key.pem", "-out", "ca.pem", "-subj", "/CN=local-kafka test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker-key.plain.pem",
         "-out", "broker.csr", "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
         "-CAcreateserial", "-days", "3650", "-extfile", "broker.ext", "-out", "broker-cert.pem"],
        # Encrypted PKCS#8 with PBES1 (SHA1/3DES): what Java's EncryptedPrivateKeyInfo reads.
        ["pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-in", "broker-key.plain.pem",
         "-out", "broker-key.pem", "-passout", "file:key-password"],
    ]  # fmt: skip
    for args in steps:
        result = subprocess.run(
            [openssl, *args], cwd=tls_dir, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            detail = (result.stderr.strip() or "no output").splitlines()[-1]
            raise LocalKafkaError(f"openssl {args[0]} failed making {tls_dir}: {detail}")
    keystore = (tls_dir / "broker-key.pem").read_text() + (tls_dir / "broker-cert.pem").read_text()
    (tls_dir / "broker.pem").write_text(keystore)
    for name in ("broker-key.plain.pem", "broker.csr"):
        (tls_dir / name).unlink(missing_ok=True)


def listener_settings(instance: Instance, auth: Auth, port: int) -> dict[str, str]:
    """server.properties entries of the SASL_SSL listener (merged by kafka_config)."""
    prefix = f"listener.name.{LISTENER.lower()}"
    mechanism = auth.mechanism.lower()
    return {
        "sasl.enabled.mechanisms": auth.mechanism,
        f"{prefix}.sasl.enabled.mechanisms": auth.mechanism,
        f"{prefix}.{mechanism}.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        f"{prefix}.ssl.keystore.type": "PEM",
        f"{prefix}.ssl.keystore.location": str(instance.tls_dir / "broker.pem"),
        f"{prefix}.ssl.key.password": (instance.tls_dir / "key-password").read_text().strip(),
    }  # fmt: skip


def sasl_port_of(instance: Instance) -> int | None:
    """The SASL_SSL port recorded in ports.json (None for a PLAINTEXT-only instance)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return int(json.loads(instance.ports_file.read_text())["sasl_ssl"])
    return None
