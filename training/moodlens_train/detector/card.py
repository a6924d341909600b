"""Writes the detector's model card (Markdown) from what was measured: the run (run.json, log.csv), the held-out
evaluation (`detector.evaluate --json-out`) and the exported ONNX file.

    python -m moodlens_train.detector.card runs/detector runs/detector/test.json runs/detector/detector.onnx \\
        checkpoints/detector/MODEL_CARD.md --command "the training command" --eval-command "the evaluate command"
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def card(run: Path, test: dict, onnx_path: Path, command: str, eval_command: str) -> str:
    info = json.loads((run / "run.json").read_text())
    with open(run / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    best = max(rows, key=lambda r: float(r["val_ap"]))
    secs = [float(r["seconds"]) for r in rows]
    a = info["args"]
    lines = [
        "# MoodLens face detector (draft, issue 21)",
        "",
        f"A YuNet/BlazeFace-like anchor-free detector: {info['parameters']:,} parameters, ONNX "
        f"{onnx_path.stat().st_size:,} bytes (opset 13, any input size; outputs decoded boxes, 5 keypoints and "
        f"scores; NMS outside the graph). Width {a['width']}, neck {a['neck']}, strides 8/16/32.",
        "",
        "## Training",
        "",
        f"- Data: `training/data_sources/README.md` (face300w crops, Roboflow ns18 photos; collages of face300w "
        f"faces on {info['backgrounds']} face-free scikit-image photos). {info['train_photos']} training photos, "
        f"{info['val_photos']} val photos (selection only).",
        f"- {len(rows)} epochs of {a['steps']} x {a['batch_size']} crops of {a['size']} px, "
        f"{sum(secs) / 60:.0f} min in all ({sum(secs) / len(secs):.0f} s per epoch, {a['threads']} thread(s) "
        f"on a shared 2-core CPU, torch {info['torch']}); AdamW lr {a['lr']}, ReduceLROnPlateau on val AP, "
        f"early stopping patience {a['patience']}; score targets: "
        + ("the IoU of each positive's predicted box (quality focal loss)." if a.get("score_loss", "focal") == "qfl"
           else "0/1 (sigmoid focal loss)."),
        f"- Best epoch {best['epoch']}: val AP@0.4 {float(best['val_ap']):.3f}, AP@0.5 {float(best['val_ap50']):.3f}; "
        f"score threshold {float(best['val_threshold']):.2f} chosen on val (best F1 at IoU 0.4).",
        f"- Command: `{command}`",
        "",
        f"## Held-out test ({test['photos']} photos, never used for training or selection)",
        "",
        f"IoU >= {test['iou']}, detector threshold {test['threshold']:.2f}; Haar = OpenCV "
        "`haarcascade_frontalface_default.xml`, scaleFactor 1.1, minNeighbors 3; both on the photo resized to a "
        f"long side of {test.get('long_side', 640)}.",
        "",
        "| set | faces | detector recall | detector precision | detector AP@0.5 | Haar recall | Haar precision |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key in test["detector"]:
        d, h = test["detector"][key], test.get("haar", {}).get(key)
        lines.append(f"| {key} | {d['faces']} | {_pct(d['recall'])} | {_pct(d['precision'])} | {d['ap50']:.3f} | "
                     + (f"{_pct(h['recall'])} | {_pct(h['precision'])} |" if h else "- | - |"))
    lines += [
        "",
        f"Time per photo ({test.get('long_side', 640)} long side, 1 thread, median; the machine was shared with training): detector "
        f"{test['detector_ms_per_photo']} ms (PyTorch, with decoding and NMS)"
        + (f", Haar {test['haar_ms_per_photo']} ms (OpenCV)." if "haar_ms_per_photo" in test else "."),
        "",
        f"- Command: `{eval_command}`",
        "",
        "## Limits",
        "",
        "- The held-out set is small and narrow (see the data README): one person's photo collection (ns18, new "
        "photos of people also seen in training) and 20 webcam frames. Not yet a measure on varied real photos.",
        "- Keypoints are learnt from face300w only (Helen faces); ns18/datavase have none, so they are not measured here.",
        "- Terms: face300w is research-use (Helen / 300-W); ns18 and datavase are CC BY 4.0.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("test", type=Path)
    p.add_argument("onnx", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--command", default="")
    p.add_argument("--eval-command", default="")
    args = p.parse_args(argv)
    text = card(args.run, json.loads(args.test.read_text()), args.onnx, args.command, args.eval_command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
