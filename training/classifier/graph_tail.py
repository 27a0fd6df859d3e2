"""The calibrated tail of an exported graph: temperature scaling and the unknown score in ONNX.

The exported network's output tensor is renamed `tail/raw_probabilities`, and nodes named
`tail/...` compute, in float32:

    probabilities  = softmax(log(max(raw, 1e-12)) / T)
    unknown_score  = 1 − (k-th largest cosine similarity of the embedding to the bank)

where the embedding is each member's penultimate activation (the input of its last Gemm),
scaled to unit length, concatenated and divided by √members, so a dot product with a bank
row is the members' mean cosine similarity. Re-calibrating strips the old tail first, so
`training calibrate` can run any number of times on the same model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from broker_plugin.model_card import OUTPUT_NAME, UNKNOWN_OUTPUT_NAME
from training.classifier.calibration import TailParameters, normalised
from training.classifier.tree_onnx import ML_DOMAIN, ML_OPSET
from training.classifier.unknown_forest import UnknownForest, summary_tensor

PREFIX = "tail/"
RAW = PREFIX + "raw_probabilities"
FOREST_NODE = PREFIX + "forest"
FOREST_PROBABILITIES = PREFIX + "forest_probabilities"
FOREST_COLUMNS = PREFIX + "forest_columns"


def strip_tail(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` without a previous tail (the network's own output restored)."""
    model = _copy(model)
    graph = model.graph
    kept = [n for n in graph.node if not n.name.startswith(PREFIX)]
    del graph.node[:]
    graph.node.extend(kept)
    inits = [i for i in graph.initializer if not i.name.startswith(PREFIX)]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    _rename(graph, RAW, OUTPUT_NAME)
    outputs = [o for o in graph.output if o.name != UNKNOWN_OUTPUT_NAME]
    del graph.output[:]
    graph.output.extend(outputs)
    return model


def embedding_names(model: onnx.ModelProto) -> list[str]:
    """Per member, the tensor entering the last Gemm (the one that feeds a Softmax)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    names = []
    for node in model.graph.node:
        if node.op_type == "Softmax" and not node.name.startswith(PREFIX):
            gemm = producer.get(node.input[0])
            if gemm is None or gemm.op_type != "Gemm":
                raise ValueError(f"graph: Softmax {node.name!r} is not fed by a Gemm; "
                                 "cannot find the penultimate embedding")
            names.append(gemm.input[0])
    if not names:
        raise ValueError("graph: no Softmax found; is this a model exported by training train?")
    return names


def with_outputs(model: onnx.ModelProto, names: list[str]) -> bytes:
    """Serialised copy of `model` that also outputs the tensors `names` (for fitting)."""
    model = _copy(model)
    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return model.SerializeToString()


def member_embeddings(outputs: list[np.ndarray]) -> np.ndarray:
    """The tail's embedding from each member's raw penultimate activations (numpy twin)."""
    return np.concatenate([normalised(o) for o in outputs], axis=1) / np.sqrt(len(outputs))


def attach_tail(model: onnx.ModelProto, params: TailParameters) -> onnx.ModelProto:
    """`model` (any previous tail stripped) with the calibrated output and the unknown score."""
    model = strip_tail(model)
    graph = model.graph
    members = embedding_names(model)
    _rename(graph, OUTPUT_NAME, RAW)
    const = _Constants(graph)
    nodes = [
        helper.make_node("Max", [RAW, const.scalar("floor", 1e-12)], [PREFIX + "floored"],
                         name=PREFIX + "floor"),
        helper.make_node("Log", [PREFIX + "floored"], [PREFIX + "logp"], name=PREFIX + "log"),
        helper.make_node("Div", [PREFIX + "logp", const.scalar("temperature",
                                                               params.temperature)],
                         [PREFIX + "scaled"], name=PREFIX + "temperature"),
        helper.make_node("Softmax", [PREFIX + "scaled"], [OUTPUT_NAME], axis=1,
                         name=PREFIX + "softmax"),
    ]
    if params.forest is not None:
        nodes += _forest_nodes(model, params.forest, const)
    else:
        nodes += _knn_nodes(members, params, const)
    graph.node.extend(nodes)
    graph.output.append(helper.make_tensor_value_info(UNKNOWN_OUTPUT_NAME, TensorProto.FLOAT,
                                                      ["batch"]))
    onnx.checker.check_model(model)
    return model


def _knn_nodes(members: list[str], params: TailParameters, const: _Constants) -> list[Any]:
    """unknown_score = 1 − k-th largest cosine similarity of the embedding to the bank."""
    nodes: list[Any] = []
    units = []
    for k, name in enumerate(members):
        norm, unit = f"{PREFIX}norm{k}", f"{PREFIX}unit{k}"
        nodes += [
            helper.make_node("ReduceL2", [name], [norm + "_raw"], axes=[1], keepdims=1,
                             name=norm + "_raw"),
            helper.make_node("Max", [norm + "_raw", const.scalar("norm_floor", 1e-12)], [norm],
                             name=norm),
            helper.make_node("Div", [name, norm], [unit], name=unit),
        ]
        units.append(unit)
    joined = PREFIX + "embedding"
    nodes.append(helper.make_node("Concat", units, [joined + "_cat"], axis=1,
                                  name=joined + "_cat"))
    nodes.append(helper.make_node("Div", [joined + "_cat",
                                          const.scalar("members", np.sqrt(len(units)))],
                                  [joined], name=joined))
    bank_t = np.ascontiguousarray(params.bank.T.astype(np.float32))
    k = min(params.neighbours, len(params.bank))
    nodes += [
        helper.make_node("MatMul", [joined, const.array("bank_t", bank_t)],
                         [PREFIX + "similarity"], name=PREFIX + "similarity"),
        helper.make_node("TopK", [PREFIX + "similarity",
                                  const.array("k", np.array([k], np.int64))],
                         [PREFIX + "nearest", PREFIX + "nearest_index"], axis=1, largest=1,
                         name=PREFIX + "nearest"),
        helper.make_node("ReduceMin", [PREFIX + "nearest"], [PREFIX + "kth"], axes=[1],
                         keepdims=0, name=PREFIX + "kth"),
        helper.make_node("Sub", [const.scalar("one", 1.0), PREFIX + "kth"],
                         [UNKNOWN_OUTPUT_NAME], name=PREFIX + "unknown_score"),
    ]
    return nodes


def _forest_nodes(model: onnx.ModelProto, forest: UnknownForest,
                  const: _Constants) -> list[Any]:
    """unknown_score = 1 − largest in-class probability of the summary-statistics forest."""
    statistics = summary_tensor(model)
    if statistics is None:
        raise ValueError("graph: no summary statistics found; the forest unknown score needs "
                         "a model trained with summary_features = true")
    if not any(o.domain == ML_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(ML_DOMAIN, ML_OPSET))
    return [
        forest.graph_node(statistics, FOREST_PROBABILITIES, FOREST_NODE),
        helper.make_node("Gather", [FOREST_PROBABILITIES,
                                    const.array("forest_columns",
                                                forest.in_class_columns.astype(np.int64))],
                         [PREFIX + "forest_in_class"], axis=1, name=PREFIX + "forest_in_class"),
        helper.make_node("ReduceMax", [PREFIX + "forest_in_class"], [PREFIX + "forest_max"],
                         axes=[1], keepdims=0, name=PREFIX + "forest_max"),
        helper.make_node("Sub", [const.scalar("one", 1.0), PREFIX + "forest_max"],
                         [UNKNOWN_OUTPUT_NAME], name=PREFIX + "unknown_score"),
    ]


class _Constants:
    """Initializers of the tail, named under PREFIX."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.made: set[str] = set()

    def array(self, name: str, value: np.ndarray) -> str:
        full = PREFIX + name
        if full not in self.made:
            self.graph.initializer.append(numpy_helper.from_array(value, full))
            self.made.add(full)
        return full

    def scalar(self, name: str, value: float) -> str:
        return self.array(name, np.array(value, np.float32))


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename tensor `old` to `new` wherever a node produces or consumes it.

    Graph outputs keep their names: the tail's softmax produces `probabilities` again."""
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy
