"""A real single-node Apache Kafka (KRaft, broker+controller) for tests and the demo.

Run through ``scripts/local-kafka start|stop|status``. Standard library only, so it works
before (and without) the project's virtual environment.

Why like this: the tests must talk to the broker that production talks to, not a mock, and a
fresh machine has Java and Maven but no Kafka distribution. So Kafka's own jars
(``org.apache.kafka:kafka_2.13``) are fetched once with Maven into a cache outside the clone,
a KRaft log directory is formatted once per state directory, and the broker listens on
loopback only. Each state directory is an independent instance, so a test session and a
demo never share a broker. ``stop`` stops the process by the PID this script recorded and
checks it is still that broker before signalling it.

Layout (one job per module, all beside this file; this one is only the command line):
  kafka_common.py     the one-line error, progress log, environment parsing, file locks
  kafka_state.py      the state directory and its files (Instance), cache root, version
  kafka_jars.py       Java 17+ check, Kafka's jars fetched once with Maven (pom.xml), JVM
                      command lines and the class-data-sharing archive
  kafka_config.py     KRaft configuration: ports, server.properties, storage format
  kafka_auth.py       the optional SASL_SSL listener (SCRAM-SHA-512, a CA made with openssl)
  kafka_process.py    the broker process: PID checks, "does Kafka answer", terminate
  kafka_lifecycle.py  the commands: start (and the owner watchdog), stop, status

Environment (all optional):
  SELFREG_CACHE                 cache root (default ~/.cache/selfreg-varstars)
  LOCAL_KAFKA_VERSION           Kafka version (default {version})
  LOCAL_KAFKA_NAME              instance name under $SELFREG_CACHE/kafka-run (default "default")
  LOCAL_KAFKA_STATE_DIR         state directory (overrides LOCAL_KAFKA_NAME)
  LOCAL_KAFKA_PORT              broker port (default: the previous one if free, else any free)
  LOCAL_KAFKA_HEAP              JVM max heap (default 512m)
  LOCAL_KAFKA_START_TIMEOUT     seconds to wait for the broker to answer (default 90)
  LOCAL_KAFKA_AUTO_CREATE_TOPICS  "true" to let the broker auto-create topics (default false)
  LOCAL_KAFKA_JVM_OPTS          JVM options replacing the defaults ({jvm_opts})
  LOCAL_KAFKA_CDS               "false" to not use or write a class-data-sharing archive
  LOCAL_KAFKA_SASL_SSL          "true": as --sasl-ssl (a new state directory only)
  LOCAL_KAFKA_SCRAM_USER        the SASL_SSL listener's SCRAM-SHA-512 user (default local-kafka)
  LOCAL_KAFKA_SCRAM_PASSWORD    its password, read once when the storage is formatted
  JAVA_HOME                     JDK/JRE to use (Kafka 4.x brokers need Java 17+)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Run as a file the directory is already on sys.path, except under `python -P` / -I.
SCRIPT_DIR = str(Path(__file__).resolve().parent)
if SCRIPT_DIR not in sys.path:
    sys.path.insert(0, SCRIPT_DIR)

from kafka_auth import wanted  # noqa: E402
from kafka_common import LocalKafkaError, env_float  # noqa: E402
from kafka_jars import DEFAULT_JVM_OPTS  # noqa: E402
from kafka_lifecycle import start, status, stop, watch  # noqa: E402
from kafka_state import DEFAULT_VERSION, default_instance  # noqa: E402

__doc__ = __doc__.format(version=DEFAULT_VERSION, jvm_opts=DEFAULT_JVM_OPTS)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="local-kafka",
        description="Start, stop or inspect a local single-node Apache Kafka (KRaft).",
        epilog=__doc__.split("Environment (all optional):", 1)[1].join(["Environment:", ""]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{start,stop,status}")
    p_start = sub.add_parser("start", help="start (or reuse) the broker; prints host:port last")
    p_stop = sub.add_parser("stop", help="stop the broker by its recorded PID")
    p_status = sub.add_parser("status", help="say whether it runs and where")
    for p in (p_start, p_stop, p_status):
        p.add_argument("--state-dir", help="instance directory (env LOCAL_KAFKA_STATE_DIR)")
    p_start.add_argument("--port", type=int, help="broker port (env LOCAL_KAFKA_PORT)")
    p_start.add_argument("--timeout", type=float, help="seconds to wait for it to answer")
    p_start.add_argument(
        "--owner-pid", type=int, help="stop the broker when this process exits (for tests)"
    )
    p_start.add_argument(
        "--sasl-ssl",
        action="store_true",
        help="also listen with SASL_SSL (SCRAM-SHA-512 over TLS, a CA made in <state>/tls); "
        "the port is in <state>/ports.json (env LOCAL_KAFKA_SASL_SSL)",
    )
    p_stop.add_argument(
        "--purge", action="store_true", help="also delete the state directory (data and logs)"
    )
    p_watch = sub.add_parser("_watch")  # internal: the owner watchdog
    p_watch.add_argument("--state-dir", required=True)
    p_watch.add_argument("--broker-pid", type=int, required=True)
    p_watch.add_argument("--owner-pid", type=int, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        instance = default_instance(args.state_dir)
        if args.command == "start":
            port = args.port or int(os.environ.get("LOCAL_KAFKA_PORT") or 0) or None
            timeout_s = args.timeout or env_float("LOCAL_KAFKA_START_TIMEOUT", 90.0)
            sasl_ssl = wanted(args.sasl_ssl)
            print(start(instance, port, timeout_s, args.owner_pid, sasl_ssl), flush=True)
        elif args.command == "stop":
            stop(instance, args.purge)
        elif args.command == "status":
            return status(instance)
        elif args.command == "_watch":
            watch(instance, args.broker_pid, args.owner_pid)
    except LocalKafkaError as err:
        print(f"error: local-kafka: {err}", file=sys.stderr)
        return 1
    except ValueError as err:  # e.g. LOCAL_KAFKA_PORT=abc
        print(f"error: local-kafka: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
