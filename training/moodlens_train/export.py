"""Exports a checkpoint to ONNX (opset 13) with MoodLens metadata, plus an optional parity fixture.

    python -m moodlens_train.export runs/dense/fer2013_dense_xception.87-0.70.pt models/emotion.onnx \\
        --parity-out models/emotion.parity.json

The graph: input ``input`` float32 (N, 1, 48, 48) with a dynamic batch, output ``logits`` float32 (N, 7): raw
scores, softmax is applied by the inference code. BatchNorm is folded into the convolutions, so the graph holds
only Conv, Relu, MaxPool, Concat, Add, GlobalAveragePool and Flatten (onnxruntime-web runs them all).

``metadata_props`` describe the model: ``moodlens.labels`` (JSON array, index order), ``moodlens.input_size``
("48"), ``moodlens.scaling`` ("v1": x / 255; "v2": x / 127.5 - 1), ``moodlens.preprocessing``
("gray,equalize_hist,resize48"), ``moodlens.arch``, ``moodlens.outputs`` ("logits"), ``moodlens.val_accuracy``,
and a few more (``moodlens.softmax``, ``moodlens.layout``, ``moodlens.config``, ``moodlens.params``).

Without onnxruntime in Python, the exported graph is checked by ``onnx.checker`` and by running it with a small
torch interpreter of its op set (``run_onnx``), which must reproduce the PyTorch logits within 1e-4.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import io
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import INPUT_SIZE, LABELS, PREPROCESSING
from .callbacks import atomic_write_bytes
from .data import DatasetError, load_faces, pick_evenly, scale_images
from .defaults import HelpFormatter
from .evaluate import load_model_from_checkpoint

OPSET = 13

#: ONNX op types the exported graphs may contain (all supported by onnxruntime-web's wasm backend).
ALLOWED_OPS = {"Conv", "Relu", "MaxPool", "Concat", "Add", "GlobalAveragePool", "Flatten", "BatchNormalization",
               "Identity", "Constant", "Reshape", "AveragePool", "Slice", "Mul", "MatMul", "Cast"}


# --------------------------------------------------------------------------------------------------------------
# BatchNorm folding


def _last_conv(module: nn.Module) -> Optional[nn.Conv2d]:
    if isinstance(module, nn.Conv2d):
        return module
    if isinstance(module, nn.Sequential) and len(module) > 0:
        return _last_conv(module[-1])
    return None


@torch.no_grad()
def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    conv.weight.copy_((conv.weight.double() * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype))
    new_bias = (bn.bias.double() + (bias - bn.running_mean.double()) * scale).to(conv.weight.dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias)
    else:
        conv.bias.copy_(new_bias)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) with every BatchNorm2d that directly follows a conv folded into it."""
    model = copy.deepcopy(model).eval()

    def visit(module: nn.Module) -> None:
        if isinstance(module, nn.Sequential):
            for i in range(1, len(module)):
                conv = _last_conv(module[i - 1])
                if isinstance(module[i], nn.BatchNorm2d) and conv is not None:
                    _fold(conv, module[i])
                    module[i] = nn.Identity()
        bn, sep = getattr(module, "bn", None), getattr(module, "sep", None)
        if isinstance(bn, nn.BatchNorm2d) and sep is not None and _last_conv(sep) is not None:
            _fold(_last_conv(sep), bn)  # type: ignore[arg-type]
            module.bn = nn.Identity()
        for child in module.children():
            visit(child)

    visit(model)
    return model


# --------------------------------------------------------------------------------------------------------------
# Export


def export_onnx(model: nn.Module, fold: bool = True, opset: int = OPSET):
    """(onnx.ModelProto, exported torch module) of a model in eval mode; input (N,1,48,48), output (N,7)."""
    import onnx

    model = copy.deepcopy(model).cpu().eval().to(memory_format=torch.contiguous_format)
    exported = fold_batchnorm(model) if fold else model
    buffer = io.BytesIO()
    kwargs = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter: opset 13 graphs with exactly these names
    torch.onnx.export(
        exported,
        (torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE),),
        buffer,
        opset_version=opset,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        do_constant_folding=True,
        **kwargs,
    )
    return onnx.load_from_string(buffer.getvalue()), exported


def set_metadata(proto, entries: Dict[str, str]) -> None:
    existing = {p.key: p for p in proto.metadata_props}
    for key, value in entries.items():
        if key in existing:
            existing[key].value = value
        else:
            prop = proto.metadata_props.add()
            prop.key, prop.value = key, value


def metadata_for(ckpt: dict) -> Dict[str, str]:
    return {
        "moodlens.labels": json.dumps(list(ckpt.get("labels", LABELS)), separators=(",", ":")),
        "moodlens.input_size": str(INPUT_SIZE),
        "moodlens.scaling": ckpt["scaling"],
        "moodlens.preprocessing": PREPROCESSING,
        "moodlens.arch": ckpt["config"]["arch"],
        "moodlens.outputs": "logits",
        "moodlens.val_accuracy": f"{float(ckpt.get('val_acc', float('nan'))):.4f}",
        "moodlens.softmax": "not applied: outputs are raw logits (N,7); apply softmax in the inference code",
        "moodlens.layout": "NCHW,gray",
        "moodlens.config": json.dumps(ckpt["config"], separators=(",", ":")),
        "moodlens.params": str(ckpt.get("params", "")),
        "moodlens.epoch": str(ckpt.get("epoch", "")),
    }


def op_types(proto) -> List[str]:
    return sorted({node.op_type for node in proto.graph.node})


# --------------------------------------------------------------------------------------------------------------
# Float16 weight storage: half the file, the same arithmetic


def round_weights_to_half(model: nn.Module) -> nn.Module:
    """The model (BatchNorm already folded) with every float parameter and buffer rounded to the nearest
    float16 value, still computed in float32: the reference that a graph storing its weights as float16
    reproduces exactly."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    return model


def store_initializers_as_half(proto, min_elements: int = 16) -> int:
    """Stores each float32 initializer whose values float16 holds exactly as float16, read back by a Cast to
    float32 at the top of the graph (lossless: any other stays float32). Returns the bytes saved."""
    from onnx import TensorProto, helper, numpy_helper

    saved = 0
    casts = []
    for index, init in enumerate(proto.graph.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        if values.size < min_elements or not np.array_equal(values.astype(np.float16).astype(np.float32), values):
            continue
        name = init.name  # read before CopyFrom renames this very message
        half_name = f"{name}__float16"
        proto.graph.initializer[index].CopyFrom(numpy_helper.from_array(values.astype(np.float16), half_name))
        casts.append(helper.make_node("Cast", [half_name], [name], to=TensorProto.FLOAT, name=f"{name}__to_float32"))
        saved += values.size * 2
    nodes = casts + list(proto.graph.node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return saved


# --------------------------------------------------------------------------------------------------------------
# A small torch interpreter for the exported op set (parity checks without onnxruntime)


def run_onnx(proto, x: np.ndarray) -> np.ndarray:
    """Runs an exported MoodLens graph on ``x`` (N,1,48,48) float32 with torch ops, following the ONNX semantics."""
    from onnx import numpy_helper

    values: Dict[str, torch.Tensor] = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
                                       for i in proto.graph.initializer}
    values[proto.graph.input[0].name] = torch.from_numpy(np.asarray(x, dtype=np.float32))
    for node in proto.graph.node:
        attrs = {a.name: _attr(a) for a in node.attribute}
        ins = [values[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Conv":
            w = ins[0 + 1]
            k = w.shape[2:]
            pads = attrs.get("pads", [0, 0, 0, 0])
            strides = attrs.get("strides", [1, 1])
            xin = F.pad(ins[0], (pads[1], pads[3], pads[0], pads[2]))
            out = F.conv2d(xin, w, ins[2] if len(ins) > 2 else None, stride=strides,
                           dilation=attrs.get("dilations", [1, 1]), groups=attrs.get("group", 1))
            assert list(attrs.get("kernel_shape", k)) == list(k)
        elif op == "Relu":
            out = torch.relu(ins[0])
        elif op in ("MaxPool", "AveragePool"):
            pads = attrs.get("pads", [0, 0, 0, 0])
            fill = float("-inf") if op == "MaxPool" else 0.0
            xin = F.pad(ins[0], (pads[1], pads[3], pads[0], pads[2]), value=fill)
            pool = F.max_pool2d if op == "MaxPool" else F.avg_pool2d
            out = pool(xin, attrs["kernel_shape"], attrs.get("strides", [1, 1]), ceil_mode=bool(attrs.get("ceil_mode", 0)))
        elif op == "Concat":
            out = torch.cat(ins, attrs["axis"])
        elif op == "Add":
            out = ins[0] + ins[1]
        elif op == "GlobalAveragePool":
            out = ins[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Flatten":
            axis = attrs.get("axis", 1)
            out = ins[0].reshape(int(np.prod(ins[0].shape[:axis])), -1)
        elif op == "BatchNormalization":
            xin, scale, bias, mean, var = ins
            eps = attrs.get("epsilon", 1e-5)
            shape = (1, -1, 1, 1)
            out = (xin - mean.view(shape)) / torch.sqrt(var.view(shape) + eps) * scale.view(shape) + bias.view(shape)
        elif op == "Identity":
            out = ins[0]
        elif op == "Constant":
            out = torch.from_numpy(numpy_helper.to_array(attrs["value"]).copy())
        elif op == "Reshape":
            out = ins[0].reshape([int(v) for v in ins[1]])
        elif op == "Mul":
            out = ins[0] * ins[1]
        elif op == "MatMul":
            out = torch.matmul(ins[0], ins[1])
        elif op == "Cast":
            if attrs["to"] != 1:  # TensorProto.FLOAT
                raise ValueError(f"run_onnx: Cast to type {attrs['to']} is not in the MoodLens op set")
            out = ins[0].float()
        elif op == "Slice":
            out = _slice(ins[0], *[None if t is None else [int(v) for v in t] for t in ins[1:]])
        else:
            raise ValueError(f"run_onnx: op {op} is not in the MoodLens op set")
        values[node.output[0]] = out
    return values[proto.graph.output[0].name].numpy()


def _slice(x: torch.Tensor, starts, ends, axes=None, steps=None) -> torch.Tensor:
    """ONNX Slice (opset 13), clamping as the spec does; negative steps walk backwards (a mirror)."""
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        dim = x.shape[axis]
        start, end = (v + dim if v < 0 else v for v in (start, end))
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        else:
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        x = x.index_select(axis, torch.arange(start, end, step, dtype=torch.long))
    return x


def _attr(a):
    from onnx import helper

    return helper.get_attribute_value(a)


# --------------------------------------------------------------------------------------------------------------
# Parity fixture


def _f32_list(values: np.ndarray) -> List[float]:
    """float32 values as JSON numbers that read back as exactly the same float32 (shortest repr)."""
    return [float(str(v)) for v in np.asarray(values, dtype=np.float32).ravel()]


def _relative_source(file: str, data) -> str:
    """A face file relative to its data set's parent folder (val/happy/PublicTest_123.jpg); CSV rows as they are."""
    root = Path(data)
    if root.is_dir():
        try:
            return Path(file).relative_to(root.parent).as_posix()
        except ValueError:
            return Path(file).as_posix()
    return f"{root.name} {file}"


def parity_fixture(model: nn.Module, ckpt: dict, data, usage: Optional[str], count: int) -> dict:
    faces = load_faces(data, usage=usage)
    idx = pick_evenly(faces.labels, count, seed=0)
    images = faces.images[idx]
    x = scale_images(images, ckpt["scaling"])[:, None]
    with torch.no_grad():
        logits = model.cpu().eval()(torch.from_numpy(x)).numpy()
    return {
        "description": "Real FER-2013 faces, preprocessed (gray, equalize_hist, 48x48) and scaled as the model expects, "
        "with the PyTorch logits of the checkpoint (float32, before softmax). onnxruntime must reproduce them.",
        "checkpoint": str(ckpt.get("_path", "")),
        "arch": ckpt["config"]["arch"],
        "scaling": ckpt["scaling"],
        "labels": list(LABELS),
        "input_shape": [int(len(idx)), 1, INPUT_SIZE, INPUT_SIZE],
        "tolerance": 1e-4,
        "faces": [
            {
                "source": _relative_source(faces.files[i], data) if faces.files else "",
                "label": int(faces.labels[i]),
                "pixels": [int(v) for v in faces.images[i].ravel()],
                "input": _f32_list(x[k]),
                "logits": _f32_list(logits[k]),
            }
            for k, i in enumerate(idx)
        ],
    }


# --------------------------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m moodlens_train.export",
        description="Export a training checkpoint to ONNX (opset 13) with MoodLens metadata.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("checkpoint", help="a best checkpoint fer2013_<arch>.<epoch>-<acc>.pt (or last.pt)")
    p.add_argument("output", help="the .onnx file to write")
    p.add_argument("--parity-out", metavar="JSON", default=None,
                   help="also write real faces + PyTorch logits for an onnxruntime parity test")
    p.add_argument("--parity-data", default=None,
                   help="faces for --parity-out (folder or CSV; default: the checkpoint's validation set)")
    p.add_argument("--parity-usage", default=None, help="CSV rows for --parity-data (default: PublicTest)")
    p.add_argument("--parity-count", type=int, default=16, help="faces in the parity fixture")
    p.add_argument("--no-fold-bn", action="store_true", help="keep BatchNormalization nodes")
    p.add_argument("--opset", type=int, default=OPSET, help="ONNX opset")
    p.add_argument("--member", action="append", default=[], metavar="CHECKPOINT",
                   help="another trained checkpoint to average with the first (repeatable): one graph whose "
                        "logits are the members' mean")
    p.add_argument("--flip-average", action="store_true",
                   help="average each member's logits with those of the mirrored face inside the graph")
    p.add_argument("--zoom-average", type=zoom_list, default=None, metavar="Z,Z,...",
                   help="also average over the face magnified by each factor about its centre, inside the graph "
                        "(e.g. 0.92,1.1; 1 = the face as it is, always included)")
    p.add_argument("--half-weights", action="store_true",
                   help="store the weights as float16 (half the file; computed in float32; the parity "
                        "reference is the model with its weights rounded the same way)")
    return p


def zoom_list(text: str) -> List[float]:
    """``0.92,1.1`` -> [1.0, 0.92, 1.1]: the test-time magnifications, the face as it is first."""
    try:
        zooms = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected factors such as 0.92,1.1 but received {text!r}")
    if not zooms or any(not (0.5 <= z <= 2.0) for z in zooms):
        raise argparse.ArgumentTypeError(f"expected factors between 0.5 and 2 but received {text!r}")
    return [1.0] + [z for z in dict.fromkeys(zooms) if z != 1.0]


def averaged_model(checkpoints: Sequence, flip: bool, log=print, zooms: Sequence[float] = (1.0,)):
    """(AveragedLogits over the checkpoints' models, a checkpoint-like dict describing it). The validation
    accuracy recorded is measured here, on the first checkpoint's validation set when it is still there."""
    from .models import AveragedLogits

    loaded = [load_model_from_checkpoint(c, torch.device("cpu")) for c in checkpoints]
    scalings = {c["scaling"] for _, c in loaded}
    if len(scalings) != 1:
        raise ValueError(f"--member: the checkpoints expect different input scalings {sorted(scalings)}")
    model = AveragedLogits([m for m, _ in loaded], flip=flip, zooms=zooms).eval()
    first = loaded[0][1]
    ckpt = {
        "scaling": first["scaling"], "labels": first.get("labels", LABELS),
        "config": {"arch": "averaged_logits", "flip_average": flip, "zooms": list(model.zooms),
                   "members": [{**c["config"], "epoch": c.get("epoch"), "val_acc": c.get("val_acc")}
                               for _, c in loaded]},
        "params": sum(int(c.get("params") or 0) for _, c in loaded),
        "epoch": "+".join(str(c.get("epoch", "")) for _, c in loaded),
        "val_path": first.get("val_path"), "val_usage": first.get("val_usage"),
    }
    if ckpt["val_path"] and Path(ckpt["val_path"]).exists():
        from .evaluate import predict_logits
        faces = load_faces(ckpt["val_path"], ckpt["val_usage"])
        logits = predict_logits(model, faces.images, ckpt["scaling"], torch.device("cpu"), 256)
        ckpt["val_acc"] = float((logits.argmax(1) == faces.labels).mean())
        log(f"averaged model: {ckpt['val_acc']:.2%} on {len(faces.labels)} faces of {ckpt['val_path']}")
    return model, ckpt


def export(checkpoint, output, parity_out=None, parity_data=None, parity_usage=None, parity_count=16,
           fold=True, opset=OPSET, log=print, members: Sequence = (), flip_average: bool = False,
           zooms: Optional[Sequence[float]] = None, half_weights: bool = False) -> dict:
    import onnx

    if members or flip_average or zooms:
        model, ckpt = averaged_model([checkpoint, *members], flip_average, log, zooms or (1.0,))
    else:
        model, ckpt = load_model_from_checkpoint(checkpoint, torch.device("cpu"))
    ckpt["_path"] = str(checkpoint)
    if half_weights:
        # Round after folding, so that the folded weights the graph stores are the float16 ones.
        model = copy.deepcopy(model).eval()
        model = round_weights_to_half(fold_batchnorm(model) if fold else model)
    proto, _ = export_onnx(model, fold=fold, opset=opset)
    metadata = metadata_for(ckpt)
    if half_weights:
        saved = store_initializers_as_half(proto)
        metadata["moodlens.weights"] = "float16 storage, float32 arithmetic"
        log(f"weights stored as float16: {saved:,} bytes saved")
    set_metadata(proto, metadata)
    proto.doc_string = (f"MoodLens emotion classifier ({ckpt['config']['arch']}): input 'input' float32 (N,1,48,48), "
                        f"output 'logits' float32 (N,7) in the order {','.join(LABELS)}; apply softmax for probabilities.")
    onnx.checker.check_model(proto, full_check=True)
    ops = op_types(proto)
    unexpected = sorted(set(ops) - ALLOWED_OPS)
    if unexpected:
        raise ValueError(f"export: unexpected ONNX ops {unexpected} (onnxruntime-web support not checked)")

    # The graph must reproduce PyTorch: run both on real-looking inputs.
    probe = np.random.default_rng(0).random((4, 1, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    if ckpt["scaling"] == "v2":
        probe = probe * 2 - 1
    with torch.no_grad():
        expected = model(torch.from_numpy(probe)).numpy()
    diff = float(np.abs(run_onnx(proto, probe) - expected).max())
    if diff > 1e-4:
        raise ValueError(f"export: the ONNX graph differs from PyTorch by {diff:.2e} (> 1e-4)")
    data = proto.SerializeToString()
    atomic_write_bytes(output, data)
    info = {"output": str(output), "bytes": len(data), "ops": ops, "max_abs_diff": diff,
            "metadata": {p.key: p.value for p in proto.metadata_props}}
    log(f"wrote {output} ({len(data):,} bytes, opset {opset}, ops {', '.join(ops)}); "
        f"max |onnx - torch| = {diff:.2e}")
    if parity_out:
        data_path = parity_data or ckpt.get("val_path")
        if not data_path:
            raise ValueError("--parity-out: name the faces with --parity-data (the checkpoint records no validation set)")
        usage = parity_usage or ckpt.get("val_usage") or ("PublicTest" if str(data_path).endswith(".csv") else None)
        fixture = parity_fixture(model, ckpt, data_path, usage, parity_count)
        fixture["model"] = Path(output).name
        x = np.asarray([f["input"] for f in fixture["faces"]], dtype=np.float32).reshape(fixture["input_shape"])
        got = run_onnx(proto, x)
        want = np.asarray([f["logits"] for f in fixture["faces"]], dtype=np.float32)
        fixture["max_abs_diff_onnx_reference"] = float(np.abs(got - want).max())
        atomic_write_bytes(parity_out, (json.dumps(fixture) + "\n").encode())
        info["parity_out"] = str(parity_out)
        log(f"wrote {parity_out} ({len(fixture['faces'])} faces from {data_path})")
    return info


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        export(args.checkpoint, args.output, args.parity_out, args.parity_data, args.parity_usage,
               args.parity_count, fold=not args.no_fold_bn, opset=args.opset, members=args.member,
               flip_average=args.flip_average, zooms=args.zoom_average, half_weights=args.half_weights)
    except (DatasetError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())


def small_model_export_main(argv, description: str, load_model, export_proto, parity_fixture, parity_count: int,
                            parity_data_help: str) -> int:
    """The command line shared by the landmark and FSRNet exporters: CHECKPOINT OUTPUT [--parity-out ...]
    [--metadata KEY=VALUE]. `export_proto(model, extra_metadata)` returns the ONNX proto; `parity_fixture(model,
    data, count)` the fixture dict."""
    import onnx
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint', type=Path)
    p.add_argument('output', type=Path)
    p.add_argument('--parity-out', type=Path)
    p.add_argument('--parity-data', type=Path, help=parity_data_help)
    p.add_argument('--parity-count', type=int, default=parity_count)
    p.add_argument('--metadata', action='append', default=[], help='extra KEY=VALUE metadata (repeatable)')
    args = p.parse_args(argv)
    model = load_model(args.checkpoint)
    proto = export_proto(model, dict(kv.split('=', 1) for kv in args.metadata))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(args.output))
    print(f'wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)', file=sys.stderr)
    if args.parity_out:
        if args.parity_data is None:
            p.error('--parity-out needs --parity-data')
        fixture = parity_fixture(model, args.parity_data, args.parity_count)
        args.parity_out.write_text(json.dumps(fixture, separators=(',', ':')) + '\n')
        print(f'wrote {args.parity_out}', file=sys.stderr)
    return 0
