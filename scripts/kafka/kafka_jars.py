"""Java and Kafka's jars: find a Java 17+, fetch the jars once with Maven, build JVM commands.

A fresh machine has Java and Maven but no Kafka distribution, so Kafka's own jars
(``org.apache.kafka:kafka_2.13``, listed by ``pom.xml`` beside this file) are copied by Maven
into a cache outside the clone, once per Kafka version. Every JVM this script starts (the
storage formatter, the broker) gets its command line from `jvm_command`, which also wires in
the class-data-sharing archive that makes later starts faster.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kafka_common import LocalKafkaError, env_flag, file_lock, last_matching_line, log
from kafka_state import Instance, cache_root

MIN_JAVA = 17
HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
# One small node on a shared machine: the serial GC uses least memory, and C1-only JIT
# starts ~35 % faster when cores are busy (broker throughput is not what tests measure).
DEFAULT_JVM_OPTS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"


@dataclass(frozen=True)
class Java:
    """A java binary and its full `java -version` text (keys the class-data-sharing archive)."""

    path: str
    version_text: str


def find_java() -> Java:
    """The java binary (JAVA_HOME first), checked to be Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        where = f"JAVA_HOME={java_home} has no bin/java" if java_home else "java is not on PATH"
        raise LocalKafkaError(
            f"{where}; Kafka 4.x needs Java {MIN_JAVA}+: install openjdk-17-jre-headless "
            "or set JAVA_HOME to a JDK 17+"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise LocalKafkaError(f"could not read the version of {java} (`{java} -version` failed)")
    major = int(match.group(1))
    if major == 1:  # "1.8.0_x" style
        major = int(match.group(2) or 0)
    if major < MIN_JAVA:
        raise LocalKafkaError(
            f"{java} is Java {major}; Kafka 4.x brokers need Java {MIN_JAVA}+: "
            "set JAVA_HOME to a newer JDK (e.g. /usr/lib/jvm/temurin-25-jdk-amd64)"
        )
    return Java(java, out.stderr + out.stdout)


def jars_dir(version: str) -> Path:
    return cache_root() / f"kafka-{version}" / "libs"


def fetch_jars(version: str) -> Path:
    """Kafka's runtime jars in the cache, fetched with Maven the first time only."""
    libs = jars_dir(version)
    if (libs / ".complete").is_file():
        return libs
    with file_lock(libs.parent / "fetch.lock"):
        if (libs / ".complete").is_file():  # another process fetched while we waited
            return libs
        mvn = shutil.which("mvn")
        if not mvn:
            raise LocalKafkaError(
                "mvn (Apache Maven) is not on PATH; it fetches Kafka's jars once: "
                "install it (e.g. apt-get install maven) and retry"
            )
        staging = libs.parent / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        fetch_log = libs.parent / "fetch.log"
        log(f"fetching Apache Kafka {version} jars with Maven into {libs} (first time only)")
        started = time.monotonic()
        cmd = [
            mvn, "-B", "--no-transfer-progress", "-f", str(POM),
            f"-Dkafka.version={version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        ]  # fmt: skip
        with fetch_log.open("w") as out:
            result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0 or not (staging / f"kafka_2.13-{version}.jar").is_file():
            reason = last_matching_line(fetch_log, r"\[ERROR\]") or "no jars were copied"
            raise LocalKafkaError(
                f"fetching org.apache.kafka:kafka_2.13:{version} with Maven failed ({reason}); "
                f"check access to Maven Central (or a mirror in ~/.m2/settings.xml); "
                f"full log: {fetch_log}"
            )
        (staging / ".complete").write_text(f"{version}\n")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        log(f"fetched {len(list(libs.glob('*.jar')))} jars in {time.monotonic() - started:.1f} s")
    return libs


def cds_archive(java: Java, libs: Path) -> Path:
    """Where the class-data-sharing archive for this Java and these jars lives.

    Loading Kafka's ~10,000 classes from an archive instead of 46 jars cuts start-up by
    roughly 40 % on a busy machine. The archive is written by the first broker this script
    stops cleanly (-XX:ArchiveClassesAtExit) and used by every later JVM; a stale or
    mismatched archive is ignored by the JVM (-Xshare:auto), never fatal.
    """
    key = hashlib.sha256(f"{java.path}\n{java.version_text}".encode()).hexdigest()[:12]
    return libs.parent / f"classes-{key}.jsa"


def jvm_command(
    java: Java, libs: Path, instance: Instance, heap: str, main: str, dump_cds: bool = False
) -> list[str]:
    """The JVM command line; dump_cds makes this JVM write a CDS archive when it exits."""
    cds: list[str] = []
    if env_flag("LOCAL_KAFKA_CDS", True):
        archive = cds_archive(java, libs)
        if archive.is_file():
            cds = [f"-XX:SharedArchiveFile={archive}"]
        elif dump_cds:
            # quiet: the dump lists every class it skips (old bytecode, unlinked classes)
            cds = [f"-XX:ArchiveClassesAtExit={instance.cds_dump}", "-Xlog:cds*=error"]
    return [
        java.path,
        f"-Xmx{heap}",
        "-Xms64m",
        *os.environ.get("LOCAL_KAFKA_JVM_OPTS", DEFAULT_JVM_OPTS).split(),
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={instance.logs_dir}",
        *cds,
        "-cp",
        str(libs / "*"),
        main,
    ]
