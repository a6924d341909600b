"""The emotion classifiers: the published mini-Xception baseline and the improved dense_xception.

Both take (N, 1, 48, 48) float32 faces and return raw logits (N, 7) in ``LABELS`` order; softmax belongs to the
inference code. Only ops that export cleanly to ONNX opset 13 and run in onnxruntime-web are used: Conv
(depthwise = grouped), BatchNormalization (folded into the convs at export), Relu, MaxPool, Concat, Add,
GlobalAveragePool.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from . import LABELS

NUM_CLASSES = len(LABELS)

ARCHS = ("mini_xception", "dense_xception", "resnet")

#: resnet (the distillation teacher) default: channels of its first stage, doubled in each of the next three.
RESNET_WIDTH = 64

#: dense_xception defaults (each is a ``train`` flag: --width, --growth, --layers, --compression).
DENSE_DEFAULTS: Dict[str, object] = {
    "width": 16,  # stem channels (mini-Xception: 8)
    "growth": 16,  # channels each dense layer adds in module 1; doubled in every following module
    "layers": (2, 3, 4, 4),  # dense layers per module (44x44, 22x22, 11x11, 6x6 feature maps)
    "compression": 0.5,  # transition 1x1 conv keeps this share of the module's concatenated channels
}


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, groups: int = 1) -> List[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]


class SeparableConv2d(nn.Sequential):
    """Keras' SeparableConv2D without bias: a depthwise 3x3 conv then a pointwise 1x1 conv (no BN in between)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__(
            nn.Conv2d(cin, cin, kernel, padding=kernel // 2, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=False),
        )


def stem(width: int) -> nn.Sequential:
    """Two valid 3x3 convs + BN + ReLU: 48x48 -> 44x44."""
    return nn.Sequential(
        *conv_bn(1, width, 3),
        nn.ReLU(inplace=True),
        *conv_bn(width, width, 3),
        nn.ReLU(inplace=True),
    )


class Head(nn.Module):
    """3x3 conv (with bias) to one map per class, then global average pooling to (N, 7) logits."""

    def __init__(self, cin: int, classes: int = NUM_CLASSES):
        super().__init__()
        self.conv = nn.Conv2d(cin, classes, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)  # exports as GlobalAveragePool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.conv(x)), 1)


class StemFeaturesHead(nn.Module):
    """The shape every classifier here shares: stem -> feature blocks -> conv + GAP head (state-dict keys
    ``stem.*``, ``features.*``, ``head.*``)."""

    def assemble(self, stem_layers: nn.Module, blocks: Sequence[nn.Module], cin: int, classes: int) -> None:
        self.stem = stem_layers
        self.features = nn.Sequential(*blocks)
        self.head = Head(cin, classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.stem(x)))


# --------------------------------------------------------------------------------------------------------------
# mini-Xception (Arriaga et al. 2017, oarriaga/face_classification src/models/cnn.py mini_XCEPTION)


class XceptionModule(nn.Module):
    """SepConv-BN-ReLU, SepConv-BN, 3x3/2 max-pool, plus a strided 1x1 conv + BN shortcut (no ReLU after the add)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.residual = nn.Sequential(*conv_bn(cin, cout, 1, stride=2))
        self.body = nn.Sequential(
            SeparableConv2d(cin, cout),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            SeparableConv2d(cout, cout),
            nn.BatchNorm2d(cout),
            nn.MaxPool2d(3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.residual(x)


class MiniXception(StemFeaturesHead):
    """The published baseline: 8-filter stem, four residual separable modules (16, 32, 64, 128), conv + GAP head."""

    def __init__(self, filters: Sequence[int] = (16, 32, 64, 128), width: int = 8, classes: int = NUM_CLASSES):
        super().__init__()
        modules = []
        cin = width
        for cout in filters:
            modules.append(XceptionModule(cin, cout))
            cin = cout
        self.assemble(stem(width), modules, cin, classes)


# --------------------------------------------------------------------------------------------------------------
# dense_xception: densely connected depthwise-separable modules


class DenseSepLayer(nn.Module):
    """One dense layer: SepConv 3x3 over the concatenation of all earlier features -> BN -> ReLU (``growth`` maps)."""

    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.sep = SeparableConv2d(cin, growth)
        self.bn = nn.BatchNorm2d(growth)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.sep(x)))


class DenseModule(nn.Module):
    """DenseNet-style module: layer i sees concat(module input, outputs of layers 0..i-1); returns the full concat."""

    def __init__(self, cin: int, growth: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(DenseSepLayer(cin + i * growth, growth) for i in range(layers))
        self.out_channels = cin + layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = x
        for layer in self.layers:
            features = torch.cat([features, layer(features)], 1)
        return features


class Transition(nn.Sequential):
    """3x3/2 max-pool (halves the map like mini-Xception's modules), then compression 1x1 conv + BN + ReLU.

    Pooling first computes the 1x1 conv on a quarter of the positions (4x cheaper, same shapes as DenseNet's
    conv-then-pool transition).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.MaxPool2d(3, stride=2, padding=1), *conv_bn(cin, cout, 1), nn.ReLU(inplace=True))


class DenseXception(StemFeaturesHead):
    """The improved mini-Xception: mini-Xception's stem and head around densely connected separable modules.

    48x48 -> stem (two valid 3x3 convs) 44x44 -> [dense module -> transition (1x1 compress, max-pool /2)] x4
    (44 -> 22 -> 11 -> 6 -> 3) -> 3x3 conv to 7 maps -> global average pooling.
    """

    def __init__(
        self,
        width: int = DENSE_DEFAULTS["width"],  # type: ignore[assignment]
        growth: int = DENSE_DEFAULTS["growth"],  # type: ignore[assignment]
        layers: Sequence[int] = DENSE_DEFAULTS["layers"],  # type: ignore[assignment]
        compression: float = DENSE_DEFAULTS["compression"],  # type: ignore[assignment]
        classes: int = NUM_CLASSES,
    ):
        super().__init__()
        check_dense_config(width, growth, layers, compression)
        blocks: List[nn.Module] = []
        cin = width
        for i, count in enumerate(layers):
            dense = DenseModule(cin, growth * 2**i, count)
            cout = max(1, int(round(dense.out_channels * compression)))
            blocks += [dense, Transition(dense.out_channels, cout)]
            cin = cout
        self.assemble(stem(width), blocks, cin, classes)


def check_dense_config(width: int, growth: int, layers: Sequence[int], compression: float) -> None:
    if not (isinstance(width, int) and width >= 1):
        raise ValueError(f"width: expected an integer >= 1 but received {width!r}")
    if not (isinstance(growth, int) and growth >= 1):
        raise ValueError(f"growth: expected an integer >= 1 but received {growth!r}")
    if len(layers) != 4 or not all(isinstance(n, int) and n >= 1 for n in layers):
        raise ValueError(f"layers: expected 4 integers >= 1 (one per module) but received {list(layers)!r}")
    if not 0.0 < compression <= 1.0:
        raise ValueError(f"compression: expected a number in (0, 1] but received {compression!r}")


def init_weights(model: nn.Module) -> None:
    """He-normal convs (fan-out) and BN at identity; the head conv keeps PyTorch's default init (logits near 0)."""
    head_convs = {m.conv for m in model.modules() if isinstance(m, Head)}
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m not in head_convs:
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------------------------------------------
# resnet: a ResNet-18-shaped teacher for knowledge distillation (about 11M parameters, ~0.5 GFLOPs per face: far
# over the phone budget, so it is trained on a GPU and never shipped; its soft labels train a dense_xception).


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN, identity shortcut (a strided 1x1 conv + BN where the shape changes), ReLU after the add."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            *conv_bn(cin, cout, 3, stride=stride, padding=1),
            nn.ReLU(inplace=True),
            *conv_bn(cout, cout, 3, padding=1),
        )
        self.shortcut = (
            nn.Sequential(*conv_bn(cin, cout, 1, stride=stride)) if stride != 1 or cin != cout else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNetTeacher(StemFeaturesHead):
    """3x3 stem at full resolution (48x48; no stride-4 stem at this size), four stages of two basic blocks
    (48, 24, 12, 6), then the same conv + global-average-pooling head as the students."""

    def __init__(self, width: int = RESNET_WIDTH, classes: int = NUM_CLASSES):
        super().__init__()
        if not (isinstance(width, int) and width >= 1):
            raise ValueError(f"width: expected an integer >= 1 but received {width!r}")
        blocks: List[nn.Module] = []
        cin = width
        for i in range(4):
            cout = width * 2**i
            blocks += [BasicBlock(cin, cout, 1 if i == 0 else 2), BasicBlock(cout, cout, 1)]
            cin = cout
        self.assemble(nn.Sequential(*conv_bn(1, width, 3, padding=1), nn.ReLU(inplace=True)), blocks, cin, classes)


# --------------------------------------------------------------------------------------------------------------
# Construction from a config (stored in checkpoints)


def model_config(arch: str, **overrides) -> Dict[str, object]:
    """The full config for ``arch`` (defaults filled in); ``overrides`` with value None are ignored."""
    if arch == "mini_xception":
        return {"arch": arch}
    if arch == "dense_xception":
        config: Dict[str, object] = {"arch": arch, **DENSE_DEFAULTS}
        for key, value in overrides.items():
            if value is not None and key in DENSE_DEFAULTS:
                config[key] = tuple(value) if key == "layers" else value
        config["layers"] = list(config["layers"])  # type: ignore[arg-type]
        return config
    if arch == "resnet":
        width = overrides.get("width")
        return {"arch": arch, "width": RESNET_WIDTH if width is None else int(width)}
    raise ValueError(f"arch: expected one of {', '.join(ARCHS)} but received {arch!r}")


def build_model(config: Dict[str, object]) -> nn.Module:
    arch = config.get("arch")
    if arch == "mini_xception":
        return MiniXception()
    if arch == "dense_xception":
        return DenseXception(
            width=int(config["width"]),  # type: ignore[arg-type]
            growth=int(config["growth"]),  # type: ignore[arg-type]
            layers=tuple(int(n) for n in config["layers"]),  # type: ignore[union-attr]
            compression=float(config["compression"]),  # type: ignore[arg-type]
        )
    if arch == "resnet":
        return ResNetTeacher(width=int(config["width"]))  # type: ignore[arg-type]
    raise ValueError(f"arch: expected one of {', '.join(ARCHS)} but received {arch!r}")


def zoom_matrix(size: int, zoom: float) -> torch.Tensor:
    """(size, size) bilinear resampling matrix ``R`` for which ``R @ X @ R.T`` is the square image ``X``
    magnified by ``zoom`` about its centre (under 1: shrunk, the border pixels repeated outside): what
    ``grid_sample(..., align_corners=False, padding_mode="border")`` gives for a pure scaling, as two MatMuls
    that every ONNX runtime runs exactly."""
    if not zoom > 0:
        raise ValueError(f"zoom: expected a positive factor but received {zoom}")
    centre = size / 2.0
    matrix = torch.zeros(size, size, dtype=torch.float64)
    for i in range(size):
        source = min(max((i + 0.5 - centre) / zoom + centre - 0.5, 0.0), size - 1.0)
        lo = int(source)
        hi = min(lo + 1, size - 1)
        frac = source - lo
        matrix[i, lo] += 1.0 - frac
        matrix[i, hi] += frac
    return matrix.float()


class ZoomedView(nn.Module):
    """The face (N, C, S, S) magnified by a fixed factor about its centre (``zoom_matrix``)."""

    def __init__(self, size: int, zoom: float):
        super().__init__()
        rows = zoom_matrix(size, zoom)
        self.register_buffer("rows", rows)
        self.register_buffer("cols", rows.t().contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(torch.matmul(self.rows, x), self.cols)


class AveragedLogits(nn.Module):
    """The mean logits of several trained classifiers over test-time views of the face: the face itself, or
    the face magnified by each of ``zooms`` (1 = as it is), each also mirrored when ``flip``. An ensemble with
    test-time augmentation as one graph (ONNX: MatMul for a zoom, Slice for the mirror, Add and Mul)."""

    def __init__(self, members: Sequence[nn.Module], flip: bool = False, zooms: Sequence[float] = (1.0,),
                 size: int = 48):
        super().__init__()
        if not members:
            raise ValueError("AveragedLogits needs at least one member")
        if not zooms or len(set(zooms)) != len(zooms):
            raise ValueError(f"zooms: expected distinct factors but received {list(zooms)}")
        self.members = nn.ModuleList(members)
        self.flip = flip
        self.zooms = [float(z) for z in zooms]
        self.resamplers = nn.ModuleList(ZoomedView(size, z) for z in self.zooms if z != 1.0)

    def views(self, x: torch.Tensor) -> List[torch.Tensor]:
        scaled = ([x] if 1.0 in self.zooms else []) + [resample(x) for resample in self.resamplers]
        return [v for s in scaled for v in ((s, torch.flip(s, [3])) if self.flip else (s,))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = self.views(x)
        total: Optional[torch.Tensor] = None
        for member in self.members:
            for view in views:
                y = member(view)
                total = y if total is None else total + y
        assert total is not None
        return total * (1.0 / (len(self.members) * len(views)))


def count_params(model: nn.Module) -> Tuple[int, int]:
    """(trainable parameters, BN running statistics): Keras' 'total params' is their sum."""
    params = sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    return params, stats
