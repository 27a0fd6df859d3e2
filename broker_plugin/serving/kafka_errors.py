"""Which librdkafka errors the consumer rides out, and which stop it.

Named, not guessed: the transient set below is what a healthy cluster produces during broker
restarts, leader moves, rebalances and topic creation. They are logged (with their name) and
the loop goes on; librdkafka retries underneath. A fatal error (`err.fatal()`), a fenced
transactional producer, or anything unknown is raised: a supervisor restart from the last
committed offset is safer than guessing.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from broker_plugin.errors import ServiceStopError, UserError

TRANSIENT_CODES: frozenset[int] = frozenset(
    {
        KafkaError._PARTITION_EOF,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError._TIMED_OUT,
        KafkaError._TIMED_OUT_QUEUE,
        KafkaError._WAIT_COORD,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._MAX_POLL_EXCEEDED,
        KafkaError._NO_OFFSET,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.REBALANCE_IN_PROGRESS,
    }
)

#: Commit errors meaning "these partitions are no longer ours": the next owner re-reads
#: from the last committed offset, so the batch is redelivered (at-least-once), not lost.
LOST_OWNERSHIP_CODES: frozenset[int] = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError._ASSIGNMENT_LOST,
        KafkaError._NO_OFFSET,
    }
)


#: Errors meaning "cannot reach the cluster" (not one failed request): the consumer logs them
#: once per interval naming the bootstrap address, and `_ALL_BROKERS_DOWN` turns /readyz 503
#: until a metadata request answers again.
BROKER_DOWN_CODES: frozenset[int] = frozenset(
    {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE}
)


class MissingTopicError(UserError):
    """An input topic the broker does not have; the message names the topic and the fix."""


class FatalKafkaError(ServiceStopError):
    """An error the consumer must not ride out; the process exits non-zero."""


class KafkaAuthError(UserError):
    """The cluster refused our credentials or our TLS: a configuration to fix, not an outage
    that a restart would ride out; one line naming what to check (exit status 2)."""


#: Errors of a refused login or TLS handshake (see `KafkaAuthError`).
AUTH_CODES: frozenset[int] = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError._SSL,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
        KafkaError.ILLEGAL_SASL_STATE,
    }
)


def is_transient(err: KafkaError) -> bool:
    """True for errors to log and ride out (see module docstring)."""
    if err.fatal():
        return False
    return err.code() in TRANSIENT_CODES


def error_name(err: KafkaError) -> str:
    """The librdkafka name of an error, e.g. '_TRANSPORT'."""
    return err.name()


def is_broker_down(err: KafkaError) -> bool:
    """True for the errors of an unreachable cluster (see `BROKER_DOWN_CODES`)."""
    return not err.fatal() and err.code() in BROKER_DOWN_CODES


def raise_fatal(err: KafkaError, where: str) -> None:
    """Raise a FatalKafkaError naming the error and where it happened (a KafkaAuthError
    for a refused login or TLS handshake)."""
    if err.code() == KafkaError._SSL:
        raise KafkaAuthError(
            f"TLS with kafka failed ({err.name()}: {err.str()}); check ssl.ca.location (the CA "
            "that signed the broker's certificate) and security.protocol"
        ) from None
    if err.code() in AUTH_CODES:
        raise KafkaAuthError(
            f"kafka refused the login ({err.name()}: {err.str()}); check sasl.username, "
            "the password (BROKER_PLUGIN_SASL_PASSWORD, --sasl-password or -X sasl.password), "
            "sasl.mechanisms and security.protocol"
        ) from None
    raise FatalKafkaError(f"{where}: {err.name()} ({err.str()})") from KafkaException(err)
