"""Evaluates a checkpoint (or an exported ONNX model) on a data set: accuracy, per-class precision / recall / F1
and the confusion matrix, as text or JSON.

    python -m moodlens_train.evaluate runs/dense/fer2013_dense_xception.87-0.70.pt --data /data/fer2013/val
    python -m moodlens_train.evaluate model.onnx --data fer2013.csv --usage PrivateTest --json report.json

An ``.onnx`` file needs the onnxruntime Python package (``pip install onnxruntime``); its scaling is read
from the model's ``moodlens.scaling`` metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import LABELS
from .data import USAGES, DatasetError, FaceSet, load_faces, scale_images
from .defaults import HelpFormatter


# --------------------------------------------------------------------------------------------------------------
# Running a model


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    images: np.ndarray,
    scaling: str,
    device: torch.device,
    batch_size: int = 64,
    channels_last: bool = False,
) -> np.ndarray:
    """Logits (N, 7) float32 of a model in eval mode for uint8 faces (N, 48, 48)."""
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, images.shape[0], batch_size):
            x = torch.from_numpy(images[start : start + batch_size]).to(device).unsqueeze(1)
            x = scale_images(x, scaling)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out.append(model(x).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, len(LABELS)), np.float32)


def loss_and_accuracy(logits: np.ndarray, labels: np.ndarray) -> Tuple[float, float]:
    t = torch.from_numpy(logits)
    y = torch.from_numpy(labels)
    loss = float(F.cross_entropy(t, y))
    acc = float((t.argmax(1) == y).double().mean())
    return loss, acc


# --------------------------------------------------------------------------------------------------------------
# Metrics


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int = len(LABELS)) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    return np.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)


def metrics(labels: np.ndarray, logits: np.ndarray) -> Dict[str, object]:
    predictions = logits.argmax(1)
    cm = confusion_matrix(labels, predictions)
    per_class: List[Dict[str, object]] = []
    for c, name in enumerate(LABELS):
        tp = int(cm[c, c])
        predicted = int(cm[:, c].sum())
        actual = int(cm[c, :].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"label": name, "precision": precision, "recall": recall, "f1": f1, "support": actual})
    supported = [r for r in per_class if r["support"]]
    loss, acc = loss_and_accuracy(logits.astype(np.float32), labels)
    return {
        "faces": int(labels.shape[0]),
        "accuracy": acc,
        "loss": loss,
        "macro_f1": float(np.mean([r["f1"] for r in supported])) if supported else 0.0,
        "per_class": per_class,
        "labels": list(LABELS),
        "confusion_matrix": cm.tolist(),
    }


def format_report(report: Dict[str, object]) -> str:
    lines = [
        f"Model:    {report.get('model', '?')}",
        f"Data:     {report.get('data', '?')}",
        f"Faces:    {report['faces']}",
        f"Accuracy: {report['accuracy']:.4f}   (cross-entropy {report['loss']:.4f}, macro F1 {report['macro_f1']:.4f})",
        "",
        f"{'class':<10} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}",
    ]
    for r in report["per_class"]:  # type: ignore[union-attr]
        lines.append(f"{r['label']:<10} {r['precision']:>9.4f} {r['recall']:>9.4f} {r['f1']:>9.4f} {r['support']:>8}")
    lines += ["", "Confusion matrix (rows: true, columns: predicted)", " " * 10 + "".join(f"{n[:8]:>9}" for n in LABELS)]
    for name, row in zip(LABELS, report["confusion_matrix"]):  # type: ignore[arg-type]
        lines.append(f"{name:<10}" + "".join(f"{v:>9}" for v in row))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Loading models


def load_model_from_checkpoint(path, device: torch.device):
    """(model in eval mode, checkpoint dict) from a best checkpoint or last.pt."""
    from .callbacks import load_checkpoint
    from .models import build_model

    ckpt = load_checkpoint(path, map_location=device)
    model = build_model(ckpt["config"]).to(device)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


def onnx_logits(path, images: np.ndarray, batch_size: int = 512) -> Tuple[np.ndarray, str]:
    try:
        import onnxruntime as ort  # type: ignore[import-not-found]
    except ImportError:
        raise SystemExit(
            f"evaluating {path} needs the onnxruntime Python package (pip install onnxruntime); "
            "or evaluate the .pt checkpoint it was exported from"
        ) from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    scaling = meta.get("moodlens.scaling", "v1")
    out = []
    for start in range(0, images.shape[0], batch_size):
        x = scale_images(images[start : start + batch_size], scaling)[:, None]
        out.append(session.run(["logits"], {"input": x})[0])
    return np.concatenate(out).astype(np.float32), scaling


# --------------------------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m moodlens_train.evaluate",
        description="Accuracy, per-class precision/recall/F1 and confusion matrix of a checkpoint or ONNX model.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("model", help="a checkpoint (.pt: best or last.pt) or an exported .onnx (needs onnxruntime)")
    p.add_argument("--data", required=True, help="image folders <root>/<emotion>/*.jpg or fer2013.csv")
    p.add_argument("--usage", choices=USAGES, default=None, help="CSV rows to use (default for a CSV: PublicTest)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the report as JSON ('-' for stdout only)")
    p.add_argument("--batch-size", type=int, default=None, help="default: 64 on CPU, 512 on GPU")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    return p


def evaluate(model_path, data, usage: Optional[str] = None, device: str = "auto", batch_size: Optional[int] = None,
             faces: Optional[FaceSet] = None) -> Dict[str, object]:
    from .defaults import eval_batch_size
    from .defaults import resolve_device

    if faces is None:
        if usage is None and Path(data).suffix.lower() == ".csv":
            usage = "PublicTest"
        faces = load_faces(data, usage=usage)
    path = Path(model_path)
    if path.suffix.lower() == ".onnx":
        logits, scaling = onnx_logits(path, faces.images, eval_batch_size("cpu", batch_size))
        arch = "onnx"
    else:
        dev = resolve_device(device)
        model, ckpt = load_model_from_checkpoint(path, dev)
        scaling = ckpt["scaling"]
        arch = ckpt["config"]["arch"]
        channels_last = dev.type == "cpu"  # 2x faster convolutions on CPU
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        logits = predict_logits(model, faces.images, scaling, dev, eval_batch_size(dev.type, batch_size), channels_last)
    report = metrics(faces.labels, logits)
    report.update({"model": str(path), "arch": arch, "scaling": scaling, "data": faces.source})
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from .defaults import cpu_threads

    torch.set_num_threads(args.threads or cpu_threads())
    try:
        report = evaluate(args.model, args.data, args.usage, args.device, args.batch_size)
    except (DatasetError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(json.dumps(report, indent=2))
        return 0
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nJSON report: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
