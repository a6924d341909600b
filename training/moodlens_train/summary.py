"""Model summary (layers, output shapes, parameters) and the compute cost of one 48x48 face.

Written here (no torchsummary): one forward pass of a single face with hooks on every module.
FLOPs count the convolutions only (2 x multiply-adds, bias adds included); BatchNormalization is folded into
the convolutions at export and ReLU / pooling / concat are memory traffic, not arithmetic worth counting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import torch
from torch import nn

from . import INPUT_SIZE
from .models import count_params


@dataclass
class Row:
    name: str
    kind: str
    depth: int
    shape: tuple
    params: int
    leaf: bool


@dataclass
class Summary:
    rows: List[Row] = field(default_factory=list)
    params: int = 0
    bn_stats: int = 0
    macs: int = 0

    @property
    def mflops(self) -> float:
        return 2.0 * self.macs / 1e6

    def format(self, title: str = "") -> str:
        lines = []
        if title:
            lines.append(title)
        header = f"{'Layer':<44} {'Type':<18} {'Output shape':<18} {'Params':>9}"
        lines += [header, "-" * len(header)]
        for r in self.rows:
            label = ("  " * r.depth + r.name)[:44]
            shape = "x".join(str(s) for s in r.shape[1:]) if r.shape else "-"
            params = f"{r.params:,}" if r.leaf or r.params else ""
            if not r.leaf and r.params:
                params = f"({r.params:,})"
            lines.append(f"{label:<44} {r.kind:<18} {shape:<18} {params:>9}")
        lines.append("-" * len(header))
        lines.append(f"Parameters: {self.params:,} (trainable; + {self.bn_stats:,} BN running statistics)")
        lines.append(f"Compute per 48x48 face: {self.macs / 1e6:.2f} M multiply-adds = {self.mflops:.2f} MFLOPs")
        return "\n".join(lines)


def summarize(model: nn.Module) -> Summary:
    """Runs one zero face through ``model`` (on its device, in eval mode, restoring the mode) and records each module."""
    summary = Summary()
    summary.params, summary.bn_stats = count_params(model)
    records = {}
    hooks = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module: nn.Module, inputs, output) -> None:
        if module in records:  # a module called twice: keep the first call
            return
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
        records[module] = shape
        if isinstance(module, nn.Conv2d) and isinstance(output, torch.Tensor):
            out_elems = output.shape[1] * output.shape[2] * output.shape[3]
            k = module.kernel_size[0] * module.kernel_size[1] * (module.in_channels // module.groups)
            summary.macs += out_elems * k + (out_elems if module.bias is not None else 0)
        elif isinstance(module, nn.Linear) and isinstance(output, torch.Tensor):
            summary.macs += module.in_features * module.out_features

    for name, module in model.named_modules():
        if name:
            hooks.append(module.register_forward_hook(hook))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for module, shape in records.items():
        name = names[module]
        leaf = len(list(module.children())) == 0
        params = sum(p.numel() for p in module.parameters())
        summary.rows.append(Row(name.split(".")[-1] if "." in name else name, type(module).__name__,
                                name.count("."), shape, params, leaf))
    # records are in call order (outputs complete): order rows by module registration instead for readability
    order = {m: i for i, m in enumerate(model.modules())}
    pairs = sorted(zip(records.keys(), summary.rows), key=lambda pair: order[pair[0]])
    summary.rows = [row for _, row in pairs]
    return summary


def main(argv=None) -> int:
    """``python -m moodlens_train.summary --arch dense_xception [--width W --growth G --layers 2,3,4,4]``"""
    import argparse
    import json

    from .defaults import TRAIN_DEFAULTS as D
    from .models import ARCHS, build_model, model_config

    p = argparse.ArgumentParser(prog="python -m moodlens_train.summary", description="Print a model summary.")
    p.add_argument("--arch", choices=ARCHS, default=D["arch"])
    p.add_argument("--width", type=int, default=D["width"])
    p.add_argument("--growth", type=int, default=D["growth"])
    p.add_argument("--layers", default=D["layers"])
    p.add_argument("--compression", type=float, default=D["compression"])
    args = p.parse_args(argv)
    config = model_config(args.arch, width=args.width, growth=args.growth,
                          layers=[int(n) for n in args.layers.split(",")], compression=args.compression)
    print(summarize(build_model(config)).format(f"Model: {args.arch} {json.dumps(config)}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
