"""A real schema registry for tests and benches: Apicurio Registry, run from Maven Central.

The plugin talks to any Confluent-compatible registry. The stand-in of
`devtools.schema_registry` fails on demand; this one is a real registry (Apicurio Registry
2.6, a Quarkus application, with its Confluent-compatible API under ``/apis/ccompat/v7``),
so an outage is a real process going away and a look-up is the real HTTP answer. Its
distribution (``io.apicurio:apicurio-registry-app:<version>:tar.gz:all``, 142 MB) is fetched
with Maven once into the same cache as Kafka's jars, like the broker. Storage is H2 in a file
under the state directory, so a stopped registry restarts with its schemas and ids.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from devtools.build_once import build_once, cache_root
from devtools.loopback import free_port

VERSION = os.environ.get("SELFREG_APICURIO_VERSION", "2.6.13.Final")
#: Its Confluent-compatible API: the URL the plugin is given.
CCOMPAT_PATH = "/apis/ccompat/v7"
#: One small JVM on a shared machine (as for the broker: serial GC, C1 only).
JVM_OPTS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m")


class ApicurioError(RuntimeError):
    """Fetching or starting the registry failed; the message says what to check."""


def fetch(version: str = VERSION) -> Path:
    """The registry's runner jar in the cache, fetched and unpacked the first time only."""
    home = cache_root() / f"apicurio-{version}"
    build_once(home, lambda folder: _fetch_into(folder, version))
    return home / f"apicurio-registry-app-{version}-runner.jar"


def _fetch_into(folder: Path, version: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ApicurioError("mvn (Apache Maven) is not on PATH; it fetches Apicurio once")
    log = folder / "fetch.log"
    artifact = f"io.apicurio:apicurio-registry-app:{version}:tar.gz:all"
    cmd = [mvn, "-B", "--no-transfer-progress", "dependency:copy", f"-Dartifact={artifact}",
           f"-DoutputDirectory={folder}"]
    with log.open("w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False,
                                cwd=folder)
    archives = list(folder.glob("*.tar.gz"))
    if result.returncode != 0 or not archives:
        raise ApicurioError(f"fetching {artifact} with Maven failed; see {log}")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(folder, filter="data")
    archives[0].unlink()
    if not (folder / f"apicurio-registry-app-{version}-runner.jar").is_file():
        raise ApicurioError(f"{artifact} holds no runner jar")


class ApicurioRegistry:
    """One registry process on loopback; `stop()` and `start()` again keep its schemas.

    Use as a context manager (or call `close()`): the JVM is also killed at interpreter exit.
    """

    def __init__(self, state_dir: Path, port: int | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.port = port or free_port()
        self.runner = fetch()
        self._process: subprocess.Popen[bytes] | None = None
        atexit.register(self.close)

    @property
    def url(self) -> str:
        """The Confluent-compatible API root, as the plugin's ``--schema-registry-url``."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT_PATH}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 120.0) -> None:
        """Start the JVM and wait until the Confluent API answers."""
        if self.running:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HTTP_PORT": str(self.port),
               "REGISTRY_DATASOURCE_URL": f"jdbc:h2:file:{self.state_dir / 'registry'}"}
        log = (self.state_dir / "registry.log").open("ab")
        self._process = subprocess.Popen(
            [shutil.which("java") or "java", *JVM_OPTS, "-Dquarkus.http.host=127.0.0.1",
             "-jar", str(self.runner)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.state_dir)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ApicurioError(f"Apicurio exited with {self._process.returncode}; "
                                    f"see {self.state_dir / 'registry.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/subjects", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        self.stop()
        raise ApicurioError(f"Apicurio did not answer within {timeout_s:.0f} s; "
                            f"see {self.state_dir / 'registry.log'}")

    def stop(self) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL after 20 s): an outage."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    close = stop

    def register(self, subject: str, schema_text: str) -> int:
        """Register a schema under `subject`; the id the plugin will find in the header."""
        request = urllib.request.Request(
            f"{self.url}/subjects/{subject}/versions",
            data=json.dumps({"schema": schema_text}).encode(),
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
            method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(json.loads(answer.read())["id"])

    def __enter__(self) -> ApicurioRegistry:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
