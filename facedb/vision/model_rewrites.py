"""Exact rewrites of an ONNX graph that onnxruntime's CPU provider runs faster.

Each function rewrites a model in place into one with the same outputs and returns how
many nodes it rewrote; ``ModelRegistry`` (models.py) applies them before a session is
created.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

log = logging.getLogger(__name__)


def rewrite(path: Path) -> bytes | None:
    """The serialised model of ``path`` with every rewrite applied; None when none
    applies (the file is used as it is)."""
    model = onnx.load(str(path))
    convs, prelus = integer_convs_as_float(model), prelu_as_relu_min(model)
    if convs == 0 and prelus == 0:
        return None
    log.info(
        "model %s: %d integer convolutions and %d PRelu rewritten (same values, faster)",
        path.name,
        convs,
        prelus,
    )
    return bytes(model.SerializeToString())


def integer_convs_as_float(model: onnx.ModelProto) -> int:
    """Rewrites, in place, each ConvInteger with constant weights into an exact float Conv.

    A dynamically quantised model (w600k_mbf_int8) quantises activations to uint8
    (DynamicQuantizeLinear) and convolves them with int8 weights (ConvInteger, int32
    out), then casts to float and scales. onnxruntime's CPU ConvInteger is a plain
    im2col + integer GEMM, slow for depthwise convolutions; its float Conv is not.
    Here ConvInteger(x, w, x_zp, w_zp) becomes Conv(float(x) - float(x_zp), w - w_zp)
    with the weights precomputed as float: the same integer products and sums, in
    float32, exact while a sum stays below 2**24 (and off by float32 rounding,
    relative 6e-8, beyond it). The activation quantisation is kept as it is, so the
    outputs are those of the quantised model (docs/BENCHMARKS.md measures both).
    Only ConvIntegers whose output feeds Cast-to-float nodes alone are rewritten.
    Returns the number rewritten.
    """
    graph = model.graph
    constants: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        for name in node.input:
            users.setdefault(name, []).append(node)
    nodes: list[onnx.NodeProto] = []
    rewritten: set[str] = set()
    for node in graph.node:
        out = node.output[0] if node.output else ""
        weights = constants.get(node.input[1]) if node.op_type == "ConvInteger" else None
        casts_only = bool(users.get(out)) and all(
            u.op_type == "Cast" and helper.get_attribute_value(u.attribute[0]) == TensorProto.FLOAT
            for u in users.get(out, [])
        )
        if weights is None or not casts_only:
            nodes.append(node)
            continue
        w = weights.astype(np.float32)
        if len(node.input) > 3 and node.input[3]:
            zero = constants[node.input[3]].astype(np.float32)
            w = w - (zero.reshape(-1, 1, 1, 1) if zero.size > 1 else zero.reshape(()))
        prefix = f"{node.name or out}_float"
        graph.initializer.append(numpy_helper.from_array(w, f"{prefix}_w"))
        x = f"{prefix}_x"
        nodes.append(helper.make_node("Cast", [node.input[0]], [x], to=TensorProto.FLOAT))
        if len(node.input) > 2 and node.input[2]:
            zp = f"{prefix}_zp"
            nodes.append(helper.make_node("Cast", [node.input[2]], [zp], to=TensorProto.FLOAT))
            nodes.append(helper.make_node("Sub", [x, zp], [f"{prefix}_xc"]))
            x = f"{prefix}_xc"
        conv = helper.make_node("Conv", [x, f"{prefix}_w"], [out], name=prefix)
        conv.attribute.extend(node.attribute)
        nodes.append(conv)
        rewritten.add(out)
    if rewritten:
        del graph.node[:]
        graph.node.extend(nodes)
        kept = [v for v in graph.value_info if v.name not in rewritten]
        del graph.value_info[:]
        graph.value_info.extend(kept)
        used = {name for n in graph.node for name in n.input}
        unused = [i for i in graph.initializer if i.name not in used]
        for initializer in unused:
            graph.initializer.remove(initializer)
    return len(rewritten)


def prelu_as_relu_min(model: onnx.ModelProto) -> int:
    """Rewrites, in place, each PRelu(x, slope) as Relu(x) + slope * Min(x, 0).

    The same value for every x (x >= 0: x + slope * 0; x < 0: 0 + slope * x), but
    four vectorised element-wise kernels instead of onnxruntime's PRelu, which is
    about three times slower on the MobileFaceNet embedder's [C, 1, 1] slopes.
    Returns the number rewritten.
    """
    graph = model.graph
    zero = "prelu_as_relu_min_zero"
    nodes: list[onnx.NodeProto] = []
    count = 0
    for node in graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        x, slope = node.input
        out = node.output[0]
        prefix = f"{node.name or out}_prelu"
        nodes += [
            helper.make_node("Relu", [x], [f"{prefix}_pos"]),
            helper.make_node("Min", [x, zero], [f"{prefix}_neg"]),
            helper.make_node("Mul", [f"{prefix}_neg", slope], [f"{prefix}_scaled"]),
            helper.make_node("Add", [f"{prefix}_pos", f"{prefix}_scaled"], [out]),
        ]
        count += 1
    if count:
        graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
        del graph.node[:]
        graph.node.extend(nodes)
    return count
