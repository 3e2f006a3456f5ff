"""A dynamically quantised ONNX model made into a float one with the same int8 weights.

A dynamically quantised model (w600k_mbf_int8) quantises each activation tensor to
uint8 with a scale computed over the whole tensor (DynamicQuantizeLinear), so a face's
embedding depends on the other faces of its batch, and it is run one face per call.
Here each chain

    DynamicQuantizeLinear(x) -> ConvInteger / MatMulInteger(x_q, w_q, x_zp, w_zp)
        -> Cast(float) -> Mul(Mul(x_scale, w_scale))

becomes ``Conv`` / ``MatMul`` (x, (w_q - w_zp) * w_scale): the int8 weights exactly, as
float32, and activations left in float (weight-only quantisation). The outputs no longer
depend on the batch and stay close to the quantised model's (activation rounding is
gone): tests/test_dequantize.py checks both on real faces. It is not the fp32 original.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facedb.errors import ModelError
from facedb.vision.model_rewrites import prelu_as_relu_min

log = logging.getLogger(__name__)

_FLOAT_OPS = {"ConvInteger": "Conv", "MatMulInteger": "MatMul"}


def float_model(path: Path) -> bytes:
    """The serialised float model of the quantised model file ``path``, with the
    exact PRelu rewrite of model_rewrites.py; ModelError when it cannot be made."""
    model = onnx.load(str(path))
    count = dequantize_weights(model)
    if count == 0:
        raise ModelError(f"model {path.name} has no dynamically quantised operator")
    prelu_as_relu_min(model)
    log.info("model %s: %d integer operators made float (weights only)", path.name, count)
    return bytes(model.SerializeToString())


def dequantize_weights(model: onnx.ModelProto) -> int:
    """Rewrites ``model`` in place as the module docstring says; returns the number of
    integer operators rewritten. ModelError when a DynamicQuantizeLinear is left (a
    chain of another shape): the result would still depend on the batch."""
    graph = model.graph
    constants: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer: dict[str, onnx.NodeProto] = {}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        for name in node.output:
            producer[name] = node
        for name in node.input:
            users.setdefault(name, []).append(node)

    def only_user(name: str, op_type: str) -> onnx.NodeProto | None:
        found = users.get(name, [])
        return found[0] if len(found) == 1 and found[0].op_type == op_type else None

    replaced: dict[int, onnx.NodeProto] = {}  # id of the final Mul -> its float op
    dropped: set[int] = set()
    for node in graph.node:
        if node.op_type not in _FLOAT_OPS or node.input[1] not in constants:
            continue
        quantize = producer.get(node.input[0])
        cast = only_user(node.output[0], "Cast")
        scale = only_user(cast.output[0], "Mul") if cast is not None else None
        if (
            quantize is None
            or quantize.op_type != "DynamicQuantizeLinear"
            or (len(node.input) > 2 and node.input[2] and node.input[2] != quantize.output[2])
            or cast is None
            or helper.get_attribute_value(cast.attribute[0]) != TensorProto.FLOAT
            or scale is None
        ):
            continue
        scales = producer.get(next((i for i in scale.input if i != cast.output[0]), ""))
        if scales is None or scales.op_type != "Mul" or quantize.output[1] not in scales.input:
            continue
        w_scale = next((constants.get(i) for i in scales.input if i != quantize.output[1]), None)
        if w_scale is None:
            continue
        weights = constants[node.input[1]].astype(np.float32)
        zero = (
            constants[node.input[3]].astype(np.float32)
            if len(node.input) > 3 and node.input[3]
            else np.zeros((), np.float32)
        )
        w_scale = w_scale.astype(np.float32)
        if node.op_type == "ConvInteger":
            # Per output channel (axis 0 of [M, C/group, kH, kW]) or per tensor.
            zero = zero.reshape(-1, 1, 1, 1) if zero.size > 1 else zero.reshape(())
            w_scale = w_scale.reshape(-1, 1, 1, 1) if w_scale.size > 1 else w_scale.reshape(())
        float_weights = f"{node.input[1]}_dequantized"
        graph.initializer.append(numpy_helper.from_array((weights - zero) * w_scale, float_weights))
        float_op = helper.make_node(
            _FLOAT_OPS[node.op_type],
            [quantize.input[0], float_weights],
            [scale.output[0]],
            name=f"{node.name or node.output[0]}_float",
        )
        float_op.attribute.extend(node.attribute)
        replaced[id(scale)] = float_op
        dropped.update((id(node), id(cast)))
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(_live(nodes, {o.name for o in graph.output}))
    used = {name for n in graph.node for name in n.input}
    for initializer in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(initializer)
    produced = {name for n in graph.node for name in n.output}
    kept = [v for v in graph.value_info if v.name in produced]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    left = sum(n.op_type == "DynamicQuantizeLinear" for n in graph.node)
    if left:
        raise ModelError(f"{left} activation quantisations could not be removed")
    # The quantised graph's outputs state a batch of 1 (it was run one face a call);
    # this one runs any batch.
    batch = graph.input[0].type.tensor_type.shape.dim[0]
    for output in graph.output:
        dims = output.type.tensor_type.shape.dim
        if dims and batch.HasField("dim_param"):
            dims[0].Clear()
            dims[0].dim_param = batch.dim_param
    return len(replaced)


def _live(nodes: list[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    """``nodes`` (in topological order) less those no graph output depends on."""
    needed = set(outputs)
    kept: list[onnx.NodeProto] = []
    for node in reversed(nodes):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    return kept[::-1]
