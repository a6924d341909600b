"""Exports a detector checkpoint to ONNX (opset 13, any input size) with `moodlens.*` metadata.

    python -m moodlens_train.detector.export runs/detector/best.pt ../models/detector/face-detector.onnx

The graph takes `input` (N, 3, H, W) float RGB in 0-255 (any H, W; multiples of 32 give every stride a whole
grid) and gives `scores` (N, A), `boxes` (N, A, 4: x1 y1 x2 y2) and `kps` (N, A, 10: five x, y pairs) in input
pixels for the A = sum over strides 8, 16, 32 of ceil(H/s) * ceil(W/s) anchor points. The caller keeps
`scores >= moodlens.score_threshold` and runs NMS at `moodlens.nms_iou`.
"""
from __future__ import annotations

import argparse
import inspect
import io
import json
import sys
from pathlib import Path

import torch

from ..export import set_metadata
from .metrics import EVAL_LONG_SIDE, NMS_IOU
from .passes import add_pass_arguments
from .model import STRIDES, DetectorExport, FaceDetector, count_parameters

OPSET = 13
FORMAT = "moodlens-detector/1"


def load_model(path):
    ckpt = torch.load(path, map_location="cpu")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise SystemExit(f"{path}: not a MoodLens detector checkpoint (format {FORMAT})")
    model = FaceDetector(**ckpt["config"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def metadata(model: FaceDetector, ckpt: dict, long_side: int = EVAL_LONG_SIDE, framing: dict = None,
             fine: tuple = None, coarse: tuple = None, mirror_threshold: float = None) -> dict:
    extra = {} if framing is None else {
        # the Haar cascade's framing of each box (framing.py): what the landmark and emotion stages expect
        "moodlens.haar_framing": f"{framing['dx']:.4f},{framing['dy']:.4f},{framing['scale']:.4f}"}
    if fine is not None:
        # a second pass for small faces (metrics.detect): its long side, and the largest face (pixels at
        # long_side, sqrt of the box area) it adds
        extra["moodlens.fine_long_side"] = str(fine[0])
        extra["moodlens.fine_max_face"] = f"{fine[1]:g}"
    if coarse is not None:
        # a pass at a smaller long side for faces filling the photo: its long side, and the smallest face
        # (pixels at long_side, sqrt of the box area) it adds
        extra["moodlens.coarse_long_side"] = str(coarse[0])
        extra["moodlens.coarse_min_face"] = f"{coarse[1]:g}"
    if mirror_threshold is not None:
        # the passes also run on the mirror image, the two views fused (metrics.detect), and faces kept at this
        # score (chosen on val with the mirror view)
        extra["moodlens.mirror_score_threshold"] = f"{mirror_threshold:.2f}"
    return {**extra,
        "moodlens.task": "face_detection",
        "moodlens.input": "rgb,0-255,NCHW,any size (pad to a multiple of 32)",
        "moodlens.preprocessing": f"resize long side to {long_side} (area), pad bottom/right with 0 to a multiple of 32",
        "moodlens.outputs": "scores (N,A); boxes (N,A,4) x1,y1,x2,y2; kps (N,A,10) x,y of right-in-image-left eye, "
                            "other eye, nose tip, left mouth corner, right mouth corner (image left/right)",
        "moodlens.keypoints": json.dumps(["eye_left", "eye_right", "nose", "mouth_left", "mouth_right"]),
        "moodlens.strides": ",".join(str(s) for s in STRIDES),
        "moodlens.score_threshold": f"{ckpt.get('threshold', 0.5):.2f}",
        "moodlens.nms_iou": str(NMS_IOU),
        "moodlens.parameters": str(count_parameters(model)),
        "moodlens.config": json.dumps(ckpt["config"]),
        "moodlens.epoch": str(ckpt.get("epoch", "")),
        "moodlens.val": json.dumps({k: ckpt["val"][k] for k in ("ap", "ap50", "recall", "precision")}
                                   if "val" in ckpt else {}),
        "moodlens.long_side": str(long_side),
        "moodlens.format": FORMAT,
    }


def export_onnx(model: FaceDetector, ckpt: dict, long_side: int = EVAL_LONG_SIDE, framing: dict = None,
                fine: tuple = None, coarse: tuple = None, mirror_threshold: float = None):
    import onnx
    buf = io.BytesIO()
    kwargs = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(DetectorExport(model).eval(), (torch.zeros(1, 3, 320, 320),), buf, opset_version=OPSET,
                      input_names=["input"], output_names=["scores", "boxes", "kps"],
                      dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "scores": {0: "N", 1: "A"},
                                    "boxes": {0: "N", 1: "A"}, "kps": {0: "N", 1: "A"}},
                      do_constant_folding=True, **kwargs)
    proto = onnx.load_from_string(buf.getvalue())
    set_metadata(proto, metadata(model, ckpt, long_side, framing, fine, coarse, mirror_threshold))
    return proto


def parity_reference(model: FaceDetector, height: int = 320, width: int = 416, top: int = 5) -> dict:
    """What PyTorch gives on a fixed input (values (i * 7919) % 256, NCHW): the top-scoring anchors with their
    boxes and keypoints, and the sum of all scores; test/cnn-detector.test.ts checks ONNX Runtime against it."""
    x = torch.arange(3 * height * width, dtype=torch.float64).mul(7919).remainder(256).float()
    x = x.reshape(1, 3, height, width)
    with torch.no_grad():
        scores, boxes, kps = DetectorExport(model).eval()(x)
    order = torch.argsort(scores[0], descending=True)[:top]
    return {"input": {"height": height, "width": width, "formula": "(i * 7919) % 256"},
            "anchors": int(scores.shape[1]), "score_sum": float(scores.sum()),
            "top": [{"index": int(i), "score": float(scores[0, i]), "box": [float(v) for v in boxes[0, i]],
                     "kps": [float(v) for v in kps[0, i]]} for i in order]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--long-side", type=int, default=EVAL_LONG_SIDE, help="the photo size the detector was measured at")
    p.add_argument("--threshold", type=float, help="score threshold to record (default: the checkpoint's, from val)")
    p.add_argument("--parity-out", type=Path, help="write PyTorch's outputs on a fixed input here (JSON)")
    p.add_argument("--framing", type=Path, help="framing.py's JSON: maps the boxes onto the Haar cascade's framing")
    add_pass_arguments(p)  # recorded in the metadata
    p.add_argument("--mirror-threshold", type=float,
                   help="with --mirror: the score threshold with the mirror view (chosen on val with evaluate "
                        "--mirror --pick-threshold), recorded as moodlens.mirror_score_threshold")
    args = p.parse_args(argv)
    if args.mirror != (args.mirror_threshold is not None):
        raise SystemExit("--mirror and --mirror-threshold: give both (the mirror view and its threshold) or neither")
    if args.mirror_threshold is not None and not 0 <= args.mirror_threshold <= 1:
        raise SystemExit("--mirror-threshold: expected a score from 0 to 1")
    if args.fine_long_side and args.fine_long_side <= args.long_side:
        raise SystemExit("--fine-long-side: expected more than --long-side")
    if args.coarse_long_side and not 32 <= args.coarse_long_side < args.long_side:
        raise SystemExit("--coarse-long-side: expected 32 or more and less than --long-side")
    import onnx
    model, ckpt = load_model(args.checkpoint)
    if args.threshold is not None:
        ckpt["threshold"] = args.threshold
    framing = json.loads(args.framing.read_text()) if args.framing else None
    proto = export_onnx(model, ckpt, args.long_side, framing,
                        (args.fine_long_side, args.fine_max_face) if args.fine_long_side else None,
                        (args.coarse_long_side, args.coarse_min_face) if args.coarse_long_side else None,
                        args.mirror_threshold)
    onnx.checker.check_model(proto)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(args.output))
    if args.parity_out:
        ref = {"model": args.output.name, "epoch": ckpt.get("epoch"), **parity_reference(model)}
        args.parity_out.write_text(json.dumps(ref, indent=2) + "\n")
    print(f"{args.output}: {args.output.stat().st_size:,} bytes, {count_parameters(model):,} parameters, "
          f"epoch {ckpt.get('epoch')}, threshold {ckpt.get('threshold', 0.5):.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
