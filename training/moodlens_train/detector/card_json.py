"""Writes the shipped detector's machine-readable card (`models/detector/face-detector.json`) from the evaluation
files in a checkpoint folder, so every figure in it is one a command measured:

    /usr/bin/python3 -m moodlens_train.detector.card_json checkpoints/detector ../models/detector/face-detector.onnx \\
        --out ../models/detector/face-detector.json

Reads DIR/run.json (the training run), DIR/val416-fine.json (val, threshold picked there), DIR/test.json (held out,
as shipped, with Haar), DIR/test-single.json (first pass only), DIR/wider-val-*.json (WIDER FACE val), where present
DIR/webfaces-test.json and DIR/webfaces-review.json (ordinary photos, precision from judged false detections), and
DIR/commands.json (the commands that made them, written by hand once per release).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .reviewed_precision import estimate, estimate_strata

FIGURES = ("recall", "precision", "ap", "ap50")


def _figures(d: dict) -> dict:
    out = {k: round(float(d[k]), 4) for k in FIGURES if k in d}
    out["faces"] = int(d["faces"])
    return out


def _by_source(detector: dict) -> dict:
    return {name: _figures(v) for name, v in sorted(detector.items(), key=lambda kv: kv[0] != "all")}


def _read(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"{path}: not found (run the evaluation that writes it first)")
    return json.loads(path.read_text())


def _webfaces(folder: Path, epoch: int):
    """The WebFaces figures (recall on the marked faces; precision measured and with the judged sample)."""
    path = folder / "webfaces-test.json"
    if not path.is_file():
        return None
    figures = json.loads(path.read_text())
    if figures["epoch"] != epoch:
        raise SystemExit(f"{path}: epoch {figures['epoch']}, not the shipped {epoch}")
    review_path = folder / "webfaces-review.json"
    review = json.loads(review_path.read_text())["detectors"] if review_path.is_file() else {}
    out = {"note": ("Caltech WebFaces, ordinary photos of people; boxes fitted from 4 hand-placed points; the labels "
                    "leave faces out, so measured precision is a lower bound and 'reviewed' counts the judged share "
                    "of real faces among a random sample of false detections (reviewed_precision.py)"),
           "photos": figures["photos"]}
    for name, key in (("cnn", "detector"), ("haar", "haar")):
        if key not in figures:
            continue
        f = figures[key]["all"]
        row = {"recall": round(f["recall"], 4), "measured_precision": round(f["precision"], 4), "faces": f["faces"]}
        if name in review:
            r = estimate(f["true_positives"], f["false_positives"], [v["verdict"] for v in review[name]["reviewed"]])
            row["reviewed_precision"] = round(r["precision"], 4)
            row["reviewed_precision_95"] = [round(v, 4) for v in r["precision_95"]]
            row["judged"] = r["judged"]
        out[name] = row
    return out


def _mirror(folder: Path, epoch: int):
    """The mirror view's figures, where measured: its threshold and val (val-web-mirror.json), the held-out test
    (test-mirror.json) and WebFaces through Node (webfaces-test-mirror.json, evaluate-detector's figures)."""
    val_path = folder / "val-web-mirror.json"
    if not val_path.is_file():
        return None
    val = json.loads(val_path.read_text())
    out = {"note": "opt-in (--mirror): the passes also run on the mirror image and the two views are fused "
                   "(metrics.detect); threshold chosen on the joint val (detector val + WebFaces val)",
           "score_threshold": val["threshold"], "val": _figures(val["detector"]["all"])}
    for key, name in (("test", "test-mirror.json"), ("webfaces", "webfaces-test-mirror.json")):
        path = folder / name
        if not path.is_file():
            continue
        d = json.loads(path.read_text())
        if d.get("epoch", epoch) != epoch:
            raise SystemExit(f"{path}: epoch {d['epoch']}, not the shipped {epoch}")
        out[key] = _figures(d["detector"]["all"]) if "detector" in d else d["figures"]
    review_path = folder / "webfaces-review-mirror.json"
    if "webfaces" in out and review_path.is_file():
        review = json.loads(review_path.read_text())
        r = estimate_strata(out["webfaces"]["true_positives"],
                            [(s["false_positives"], [v["verdict"] for v in s["reviewed"]]) for s in review["strata"]])
        out["webfaces"]["reviewed_precision"] = round(r["precision"], 4)
        out["webfaces"]["reviewed_precision_95"] = [round(v, 4) for v in r["precision_95"]]
    return out


def build(folder: Path, onnx: Path) -> dict:
    run = _read(folder / "run.json")
    val = _read(folder / "val416-fine.json")
    test = _read(folder / "test.json")
    single = _read(folder / "test-single.json")
    commands = _read(folder / "commands.json")
    args = run["args"]
    if val["epoch"] != test["epoch"] or val["threshold"] != test["threshold"]:
        raise SystemExit(f"{folder}: val ({val['epoch']}, {val['threshold']}) and test ({test['epoch']}, "
                         f"{test['threshold']}) figures are of different checkpoints or thresholds")
    wider = {}
    for path in sorted(folder.glob("wider-val-*.json")):
        w = json.loads(path.read_text())
        wider[path.stem.replace("wider-val-", "")] = {k: round(float(v["ap"]), 4) for k, v in w["ap"].items()}
    return {
        "model": {
            "file": onnx.name,
            "bytes": onnx.stat().st_size,
            "parameters": run["parameters"],
            "epoch": test["epoch"],
            "long_side": test["long_side"],
            "fine_long_side": test.get("fine_long_side"),
            "fine_max_face": test.get("fine_max_face"),
            "coarse_long_side": test.get("coarse_long_side"),
            "coarse_min_face": test.get("coarse_min_face"),
            "score_threshold": test["threshold"],
            "architecture": f"YuNet/BlazeFace-like anchor-free, width {args['width']}, neck {args['neck']}, "
                            "strides 8/16/32",
        },
        "data": {
            "sources": "training/data_sources/README.md",
            "prepared": args["data"],
            "split": f"by source photo or video: train {run['train_photos']:,} photos, val {run['val_photos']} "
                     f"(selection only), test {test['photos']} held out",
            "train_photos": run["train_photos"],
            "val_photos": run["val_photos"],
        },
        "val": {"note": "selection only (checkpoint, threshold)", "all": _figures(val["detector"]["all"]),
                "keypoints": val.get("keypoints")},
        "test": {
            "note": f"held out; IoU {test['iou']}; faces under {test['min_face']:g} px ignored",
            "shipped": _by_source(test["detector"]),
            "single_pass": _figures(single["detector"]["all"]),
            "haar": _by_source(test["haar"]) if "haar" in test else None,
        },
        "webfaces": _webfaces(folder, test["epoch"]),
        "mirror": _mirror(folder, test["epoch"]),
        "wider_face_val": {"note": "3,226 photos, the benchmark's protocol (wider_eval.py); never trained or "
                                   "selected on", **wider},
        "commands": commands,
        "card": "face-detector.md; full: training/checkpoints/detector/MODEL_CARD.md",
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="checkpoint folder with the evaluation files")
    p.add_argument("onnx", type=Path, help="the shipped ONNX file")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    card = build(args.folder, args.onnx)
    args.out.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
