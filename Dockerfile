# The broker plugin image: serving dependencies only (no torch, no training extra).
#
#   docker build -t broker-plugin:0.1.0 .                                  # the shipped model
#   docker build --build-arg MODEL_DIR=runs/quick -t broker-plugin:0.1.0 .  # your own
#
# MODEL_DIR is a model directory (model.onnx + model_card.json) relative to the build
# context, by default the multi-survey model shipped in the package (broker_plugin/_model,
# rebuilt by scripts/build-default-model); it is baked in at /opt/broker-plugin/model, the
# chart's default model.path. To ship the model separately instead (chart model.source=volume or
# initContainer), build with MODEL_DIR=helm/no-model (an empty placeholder is fine: the chart
# then points BROKER_PLUGIN_MODEL at /models).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY broker_plugin/ broker_plugin/
COPY training/ training/
COPY schemas/ schemas/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG MODEL_DIR=broker_plugin/_model
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BROKER_PLUGIN_MODEL=/opt/broker-plugin/model \
    BROKER_PLUGIN_METRICS_PORT=9108
COPY --from=build /wheels /wheels
# `pip install` of the wheel without extras: numpy, fastavro, confluent-kafka, onnxruntime,
# prometheus-client, polars, typer, rich, pyyaml. The [train] extra (torch) is never installed.
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)" \
    && groupadd --gid 10001 plugin && useradd --uid 10001 --gid 10001 --no-create-home plugin
COPY --chown=10001:10001 ${MODEL_DIR}/ /opt/broker-plugin/model/
USER 10001:10001
EXPOSE 9108
ENTRYPOINT ["broker-plugin"]
CMD ["run"]
