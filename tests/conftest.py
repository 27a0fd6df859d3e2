"""Shared fixtures. Real survey data lives in ../shared/data (beside the clone, never copied in)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.kafka_support import (
    LocalKafka,
    LocalKafkaError,
    create_topic,
    delete_topics,
    start_local_kafka,
    stop_local_kafka,
    unique_topic_name,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SELFREG_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip: a user's clone has no ../shared (CI has it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the real survey data in {SHARED_DATA} (absent in this clone)")
    return SHARED_DATA


# --------------------------------------------------------------------------- real Kafka
# One private broker per test session (scripts/local-kafka in a temporary state dir, so it
# never clashes with a demo broker), stopped at session end even when tests fail. Set
# SELFREG_TEST_KAFKA_BOOTSTRAP=host:port to use an existing broker instead.


@pytest.fixture(scope="session")
def local_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """The session's broker; a start failure fails (not skips) with the script's error line."""
    external = os.environ.get("SELFREG_TEST_KAFKA_BOOTSTRAP", "").strip()
    if external:
        yield LocalKafka(bootstrap=external, state_dir=None)
        return
    state_dir = tmp_path_factory.mktemp("local-kafka")
    try:
        bootstrap = start_local_kafka(state_dir, owner_pid=os.getpid())
    except LocalKafkaError as err:
        pytest.fail(f"could not start the test Kafka broker: {err}", pytrace=False)
    try:
        yield LocalKafka(bootstrap=bootstrap, state_dir=state_dir)
    finally:
        stop_local_kafka(state_dir)


@pytest.fixture(scope="session")
def kafka_bootstrap(local_kafka: LocalKafka) -> str:
    """ "host:port" of the session's real Kafka broker."""
    return local_kafka.bootstrap


@pytest.fixture
def kafka_topic(
    kafka_bootstrap: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """Factory: `kafka_topic(partitions=1, config=None)` creates a uniquely named topic.

    Names start with the test's name, so a broker log points back to the test; the topics
    are deleted after the test to keep a long session's broker small.
    """
    created: list[str] = []

    def make(partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = create_topic(
            kafka_bootstrap, unique_topic_name(request.node.name), partitions, config
        )
        created.append(name)
        return name

    yield make
    delete_topics(kafka_bootstrap, created)


@pytest.fixture(scope="session")
def cnn_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real CNN model directory (tests/cnn_fixture.py), trained once per session."""
    pytest.importorskip("torch", reason="the CNN fixture is trained with the [train] extra")
    from tests.cnn_fixture import train_cnn_model

    return train_cnn_model(tmp_path_factory.mktemp("cnn-model"))
