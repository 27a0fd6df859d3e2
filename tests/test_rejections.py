"""One rejection vocabulary: the README's table, the metrics' zero series and the DLQ headers
all come from `broker_plugin.rejections`."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from broker_plugin.metrics import PluginMetrics
from broker_plugin.rejections import DESCRIPTIONS, NOT_FAILURES, Reason, Rejection

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_reason_has_a_description_and_the_readme_table_matches() -> None:
    assert set(DESCRIPTIONS) == set(Reason)
    rows = dict(re.findall(r"^\s*\| `([a-z_]+)` \| (.+?) \| (?:yes|no) \|$", README.read_text(),
                           re.MULTILINE))
    assert rows == {str(r): d for r, d in DESCRIPTIONS.items()}


def test_metrics_start_with_a_zero_series_per_reason() -> None:
    """What `serving.service.make_observer` does: every reason's series exists at 0."""
    registry = CollectorRegistry()
    metrics = PluginMetrics(registry, model_version="v")
    metrics.initialise_reasons(list(Reason), [r for r in Reason if r not in NOT_FAILURES])
    for reason in Reason:
        assert registry.get_sample_value("broker_plugin_dead_letters_total",
                                         {"reason": str(reason)}) == 0
        failed = registry.get_sample_value("broker_plugin_alerts_failed_total",
                                           {"error": str(reason)})
        assert (failed is None) == (reason in NOT_FAILURES)


def test_dead_letter_headers_carry_the_code() -> None:
    from broker_plugin.serving.dlq import dead_letter_headers, read_dead_letter_headers

    rejection = Rejection(3, Reason.UNKNOWN_SCHEMA, "no schema 4242", 4242)
    headers = dead_letter_headers(rejection.reason, rejection.message, rejection.schema_id,
                                  "alerts", 0, 17)
    assert read_dead_letter_headers(headers)["reason"] == "unknown_schema"
