"""What an ONNX file is, by its inputs and outputs: whether it can serve a role.

A file from the manifest is trusted by its sha256; this check is the second gate
(`facedb models fetch`) and the only one for a file the manifest does not know.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from facedb.errors import ModelError, first_line

Shape = list[int | str | None]


def signature(path: Path) -> tuple[list[tuple[str, Shape]], list[tuple[str, Shape]]]:
    """Inputs and outputs (name, shape) of an ONNX file, as onnxruntime loads it."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a bad file
        raise ModelError(
            f"{path.name} is not an ONNX model onnxruntime can load: {first_line(exc)}"
        ) from None
    inputs = [(i.name, list(i.shape)) for i in session.get_inputs()]
    outputs = [(o.name, list(o.shape)) for o in session.get_outputs()]
    return inputs, outputs


def role_problem(
    role: str,
    input_size: tuple[int, int],
    inputs: list[tuple[str, Shape]],
    outputs: list[tuple[str, Shape]],
) -> str | None:
    """Why a model with these inputs and outputs cannot serve the role; None if it can."""
    if len(inputs) != 1:
        return f"{len(inputs)} inputs, a {role} has 1"
    shape = inputs[0][1]
    if len(shape) != 4 or (shape[1] not in (3, None) and not isinstance(shape[1], str)):
        return f"input shape {shape}, a {role} takes [N, 3, H, W]"
    height, width = shape[2], shape[3]
    expected = {"embedder": (112, 112), "liveness": (80, 80)}.get(role)
    if role != "detector" and input_size != (0, 0):
        expected = (input_size[1], input_size[0])
    if expected is not None and (height, width) != expected:
        return f"input {height}x{width}, expected {expected[0]}x{expected[1]}"
    if role == "detector":
        if len(outputs) != 9:
            return f"{len(outputs)} outputs, an SCRFD detector with key points has 9"
        return None
    classes = {"embedder": 512, "liveness": 3}[role]
    if len(outputs) != 1 or not outputs[0][1] or outputs[0][1][-1] != classes:
        shown = [s for _, s in outputs]
        return f"outputs {shown}, a {role} gives one [N, {classes}]"
    return None
