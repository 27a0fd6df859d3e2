"""Serving: the Kafka consumer (`run`), file replay (`classify`) and the demo producer.

Public surface: `ServingConfig`, `AlertPipeline`, `AlertConsumer`, `Classifier`,
`classify_files`, `produce_alerts`. Modules: `config` (options, secrets masked), `pipeline`
(bytes → records, shared by run and classify), `classifier` (onnxruntime), `combine` (band
rule), `records`/`output` (output records), `dlq` (dead letters), `consumer` (the loop),
`kafka_errors` (transient vs fatal), `replay`, `produce`, `observer` (metrics and drift).
"""
