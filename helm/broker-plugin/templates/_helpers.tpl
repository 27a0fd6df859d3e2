{{/* Chart name. */}}
{{- define "broker-plugin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, unless overridden. */}}
{{- define "broker-plugin.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: stable across upgrades. */}}
{{- define "broker-plugin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "broker-plugin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every resource. */}}
{{- define "broker-plugin.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "broker-plugin.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: classifier
app.kubernetes.io/part-of: alert-broker
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "broker-plugin.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "broker-plugin.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Model directory inside the container for the chosen delivery. */}}
{{- define "broker-plugin.modelPath" -}}
{{- if eq .Values.model.source "image" -}}
{{- .Values.model.path -}}
{{- else -}}
/models
{{- end -}}
{{- end -}}

{{/* PromQL selector for this release's series (job = the metrics Service's name). */}}
{{- define "broker-plugin.selector" -}}
job="{{ include "broker-plugin.fullname" . }}-metrics", namespace="{{ .Release.Namespace }}"
{{- end -}}

{{/* librdkafka's SASL mechanism from kafka.settings (sasl.mechanism or sasl.mechanisms), upper case. */}}
{{- define "broker-plugin.saslMechanism" -}}
{{- $s := .Values.kafka.settings | default dict -}}
{{- default "" (coalesce (index $s "sasl.mechanism") (index $s "sasl.mechanisms")) | toString | upper -}}
{{- end -}}

{{/* KEDA's Kafka scaler `sasl` mode for that mechanism; empty when KEDA takes no username/password for it. */}}
{{- define "broker-plugin.kedaSaslMode" -}}
{{- get (dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512") (include "broker-plugin.saslMechanism" .) -}}
{{- end -}}

{{/* "true" when librdkafka talks TLS to the brokers (security.protocol SSL or SASL_SSL). */}}
{{- define "broker-plugin.kafkaTLS" -}}
{{- $s := .Values.kafka.settings | default dict -}}
{{- if has (default "" (index $s "security.protocol") | toString | upper) (list "SSL" "SASL_SSL") -}}true{{- end -}}
{{- end -}}

{{/* TriggerAuthentication the ScaledObject uses: the user's, the chart's (SASL) or none. */}}
{{- define "broker-plugin.kedaAuthName" -}}
{{- if .Values.autoscaling.kedaAuthenticationRef -}}
{{- .Values.autoscaling.kedaAuthenticationRef -}}
{{- else if .Values.kafka.sasl.enabled -}}
{{- printf "%s-kafka" (include "broker-plugin.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Refuse values that cannot work, with one clear message each. */}}
{{- define "broker-plugin.validate" -}}
{{- if and (eq (toString .Values.kafka.survey) "lsst") (not .Values.kafka.schemaRegistryUrl) (not .Values.kafka.schemaDir) -}}
{{- fail "LSST alerts arrive in Confluent wire format and need their writer schemas: pass --schema-registry-url URL (chart: schemaRegistryUrl) or --schema-dir DIR (chart: schemaDir; e.g. lsst-alert-packet's schema folder); for ZTF or compact alert containers pass --survey ztf or --survey compact" -}}
{{- end -}}
{{- $partitions := int .Values.kafka.partitions -}}
{{- if lt $partitions 1 -}}
{{- fail "kafka.partitions must be the input topic's partition count (>= 1)" -}}
{{- end -}}
{{- if gt (int .Values.replicaCount) $partitions -}}
{{- fail (printf "replicaCount (%d) exceeds kafka.partitions (%d): extra consumers would sit idle; lower replicaCount or add partitions" (int .Values.replicaCount) $partitions) -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- if gt (int .Values.autoscaling.maxReplicas) $partitions -}}
{{- fail (printf "autoscaling.maxReplicas (%d) exceeds kafka.partitions (%d): a consumer group cannot use more consumers than partitions; lower maxReplicas or add partitions" (int .Values.autoscaling.maxReplicas) $partitions) -}}
{{- end -}}
{{- if gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas) -}}
{{- fail "autoscaling.minReplicas exceeds autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and .Values.kafka.sasl.enabled (not .Values.autoscaling.kedaAuthenticationRef) (not (include "broker-plugin.kedaSaslMode" .)) -}}
{{- fail (printf "KEDA's Kafka scaler needs the SASL mechanism: set sasl.mechanisms in kafka.settings to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (got %q), or name your own TriggerAuthentication in autoscaling.kedaAuthenticationRef" (include "broker-plugin.saslMechanism" .)) -}}
{{- end -}}
{{- end -}}
{{- if and (hasKey .Values.autoscaling "kind") (ne (toString .Values.autoscaling.kind) "keda") -}}
{{- fail (printf "autoscaling.kind=%v was removed: the chart autoscales with KEDA only (autoscaling.enabled=true); drop autoscaling.kind" .Values.autoscaling.kind) -}}
{{- end -}}
{{- if hasKey .Values.metrics.serviceMonitor "release" -}}
{{- fail "metrics.serviceMonitor.release moved to metrics.prometheusRelease (it labels the ServiceMonitor and the PrometheusRule)" -}}
{{- end -}}
{{- if or (hasKey (.Values.metrics.serviceMonitor.labels | default dict) "release") (hasKey (.Values.prometheusRule.labels | default dict) "release") -}}
{{- fail "set the release label with metrics.prometheusRelease, not in metrics.serviceMonitor.labels or prometheusRule.labels (one value labels both)" -}}
{{- end -}}
{{- if not (has .Values.model.source (list "image" "volume" "initContainer")) -}}
{{- fail (printf "model.source %q is not one of image, volume, initContainer" .Values.model.source) -}}
{{- end -}}
{{- if and (eq .Values.model.source "volume") (not .Values.model.volume) -}}
{{- fail "model.source=volume needs model.volume (e.g. {persistentVolumeClaim: {claimName: models}})" -}}
{{- end -}}
{{- if and (eq .Values.model.source "initContainer") (not .Values.model.initContainer.image) -}}
{{- fail "model.source=initContainer needs model.initContainer.image and command" -}}
{{- end -}}
{{- if and .Values.kafka.sasl.enabled (not .Values.kafka.sasl.existingSecret) -}}
{{- fail "kafka.sasl.enabled needs kafka.sasl.existingSecret: the name of a Secret with the credentials" -}}
{{- end -}}
{{- range $key, $value := .Values.kafka.settings -}}
{{- if or (contains "password" (lower $key)) (contains "secret" (lower $key)) (contains "jaas" (lower $key)) -}}
{{- fail (printf "kafka.settings.%s looks like a credential; it would land in a ConfigMap. Use kafka.sasl.existingSecret instead" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
