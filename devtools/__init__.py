"""Helpers shared by the tests (`tests/`) and the benchmarks (`bench/`); never shipped.

- `devtools.kafka_support`: start/stop a private broker through ``scripts/local-kafka``,
  unique topic names, topic creation, producing, reading a topic back.
- `devtools.model_fixture`: a tiny ONNX model directory with the serving contract
  (needs ``onnx``, from the ``[train]`` extra, only when called).
- `devtools.serving_data`: small periodic light curves and light-curve directories.
- `devtools.schema_registry`: a Confluent-compatible schema registry on loopback that can
  be taken down or made to fail.

Import rules (docs/architecture.md, enforced by tests/test_import_rules.py): devtools may
import `broker_plugin` and `training`, but neither of them, nor anything the wheel ships,
ever imports devtools; devtools itself never imports `tests` or `bench`. The package is not
in the wheel (pyproject.toml packages only `broker_plugin*` and `training*`): tests and
benchmarks run from a checkout, with its root on `sys.path`.
"""
