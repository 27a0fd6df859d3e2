"""The short reliability battery (bench/faults.py --short) against the session's real broker.

Kills, SIGTERM mid-batch, poison of every kind and a registry outage, each counted by alert
id: 0 lost everywhere, 0 duplicates where promised, every bad message dead-lettered with its
original bytes. The full battery (20,000 alerts, 20 kills, 10,000 poison) runs from the
README's command. Needs lsst-alert-packet (test extra) for the LSST schemas.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

pytest.importorskip("lsst.alert.packet", reason="needs lsst-alert-packet (test extra)")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import faults

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(scope="module")
def private_broker(tmp_path_factory: pytest.TempPathFactory):
    """A broker of its own for the scenarios that stop and freeze it (not the session's)."""
    import os

    state = tmp_path_factory.mktemp("faults-kafka")
    bootstrap = faults.start_local_kafka(state, os.getpid())
    yield bootstrap, state
    faults.stop_local_kafka(state)


@pytest.mark.parametrize("scenario", faults.SCENARIOS)
def test_short_battery_scenario(scenario: str, request: pytest.FixtureRequest,
                                tmp_path: Path) -> None:
    if scenario in faults.BROKER_SCENARIOS:
        bootstrap, state = request.getfixturevalue("private_broker")
    else:
        bootstrap, state = request.getfixturevalue("kafka_bootstrap"), None
    [outcome] = faults.run_battery(bootstrap, tmp_path, [scenario], alerts=3000,
                                   kills=3, rate=250.0, n_poison=300, outage_s=8.0,
                                   kafka_state=state, say=lambda message: None)
    assert outcome.passed, json.dumps(asdict(outcome), indent=1)
    assert outcome.produced > 0 and outcome.lost == 0
