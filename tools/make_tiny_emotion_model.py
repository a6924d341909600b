#!/usr/bin/env python3
"""Builds MoodLens's tiny emotion test model and its parity fixture (test/fixtures/).

    /usr/bin/python3 tools/make_tiny_emotion_model.py [--data .cache/fer2013/val]
    npx prettier --write test/fixtures/tiny-emotion.parity.json

The model is a small random conv net (seeded, untrained: its predictions mean nothing) with the SAME contract
as the shipped emotion model (training/moodlens_train/export.py): input ``input`` float32 (N,1,48,48) with a
dynamic N, output ``logits`` float32 (N,7), opset 13, and ``metadata_props`` ``moodlens.labels``,
``moodlens.input_size``, ``moodlens.scaling``, ``moodlens.preprocessing``, ``moodlens.arch``,
``moodlens.outputs``, ``moodlens.val_accuracy``. Its ops (Conv, Relu, MaxPool, Flatten) are a subset of the
exported models' op set.

The parity fixture has the layout of export.py's ``--parity-out`` file: real FER-2013 PublicTest faces (one per
class, read with cv2.IMREAD_GRAYSCALE and equalized with cv2.equalizeHist, as MoodLens preprocesses a 48x48
face) and the PyTorch logits. Instead of export.py's per-face ``input`` arrays (which made the file 300 KB) it
holds ``scaling_tables``: the float32 value of every pixel level 0..255 under each scaling, computed with the
training code's formula (x / 255, and (x / 255 - 0.5) * 2 for v2); a face's input is its pixels looked up there,
so the TypeScript scaling is checked bit for bit.

Needs Debian's python3-torch, python3-onnx, python3-opencv and numpy (call /usr/bin/python3).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 48
SEED = 20240613


def scale(pixels: np.ndarray, scaling: str) -> np.ndarray:
    """uint8 -> float32 exactly as training/moodlens_train/data.py scale_images does."""
    x = pixels.astype(np.float32) / np.float32(255.0)
    if scaling == "v2":
        x = (x - np.float32(0.5)) * np.float32(2.0)
    return x.astype(np.float32)


def f32_list(values: np.ndarray) -> list:
    """float32 values as JSON numbers that read back as exactly the same float32 (shortest repr)."""
    return [float(str(v)) for v in np.asarray(values, dtype=np.float32).ravel()]


class TinyEmotionNet(nn.Module):
    """48 -> conv3 (4) -> pool -> 24 -> conv3 (8) -> pool -> pool -> 6 -> conv6 (7) -> 1x1 -> logits (N,7)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.MaxPool2d(2),
            nn.Conv2d(8, len(LABELS), 6),
        )
        self.flatten = nn.Flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.features(x))


def pick_faces(data: Path) -> list:
    """The first face (in file-name order) of each class folder: one real face per emotion."""
    picked = []
    for index, label in enumerate(LABELS):
        files = sorted((data / label).glob("*.jpg"))
        if not files:
            raise SystemExit(f"no faces in {data / label} (unpack fer2013-publictest.tar.gz or pass --data)")
        picked.append((index, files[0]))
    return picked


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=REPO / ".cache" / "fer2013" / "val",
                   help="FER-2013 PublicTest image folder (<emotion>/*.jpg)")
    p.add_argument("--out", type=Path, default=REPO / "test" / "fixtures" / "tiny-emotion.onnx")
    p.add_argument("--parity-out", type=Path, default=REPO / "test" / "fixtures" / "tiny-emotion.parity.json")
    p.add_argument("--scaling", choices=("v1", "v2"), default="v2")
    args = p.parse_args(argv)

    torch.manual_seed(SEED)
    model = TinyEmotionNet().eval()
    with torch.no_grad():  # larger weights than the default init, so the softmax is not flat
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(3.0)

    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE),),
        buffer,
        opset_version=13,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        do_constant_folding=True,
    )
    proto = onnx.load_from_string(buffer.getvalue())
    metadata = {
        "moodlens.labels": json.dumps(list(LABELS)),
        "moodlens.input_size": str(INPUT_SIZE),
        "moodlens.scaling": args.scaling,
        "moodlens.preprocessing": "gray,equalize_hist,resize48",
        "moodlens.arch": "tiny_random_test_net",
        "moodlens.outputs": "logits",
        "moodlens.val_accuracy": "nan",
        "moodlens.note": "untrained random weights, for tests only (tools/make_tiny_emotion_model.py)",
    }
    for key, value in metadata.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    proto.doc_string = "MoodLens tiny random emotion test model: input (N,1,48,48), logits (N,7)."
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)

    faces = []
    for label, path in pick_faces(args.data):
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if gray is None or gray.shape != (INPUT_SIZE, INPUT_SIZE):
            raise SystemExit(f"{path}: not a 48x48 gray face")
        faces.append((label, path, cv2.equalizeHist(gray)))
    pixels = np.stack([f[2] for f in faces])
    x = scale(pixels, args.scaling)[:, None]
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()

    levels = np.arange(256, dtype=np.uint8)
    fixture = {
        "description": "Real FER-2013 PublicTest faces, preprocessed (cv2.IMREAD_GRAYSCALE, cv2.equalizeHist, 48x48) "
        "and scaled as the model expects, with the PyTorch logits (float32, before softmax) of "
        "tiny-emotion.onnx. onnxruntime must reproduce them. Made by tools/make_tiny_emotion_model.py.",
        "model": args.out.name,
        "arch": metadata["moodlens.arch"],
        "scaling": args.scaling,
        "labels": list(LABELS),
        "input_shape": [len(faces), 1, INPUT_SIZE, INPUT_SIZE],
        "tolerance": 1e-4,
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "scaling_tables": {s: f32_list(scale(levels, s)) for s in ("v1", "v2")},
        "faces": [
            {
                "source": f"val/{LABELS[label]}/{path.name}",
                "label": label,
                "pixels": [int(v) for v in eq.ravel()],
                "logits": f32_list(logits[k]),
            }
            for k, (label, path, eq) in enumerate(faces)
        ],
    }
    args.parity_out.write_text(json.dumps(fixture, indent=2) + "\n")
    print(f"wrote {args.out} ({len(data):,} bytes) and {args.parity_out} ({len(faces)} faces)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
