"""Precision on a test set whose labels leave faces out, from a random sample of false detections judged by eye.

A set like WebFaces marks only some of the faces in a photo, so a detection on an unmarked face counts as
false and the measured precision is a lower bound. `review --sample N` draws N of the false detections at
random; someone judges each ('face' for a real face the labels leave out; 'not-face', 'label-mismatch' or
'unclear' stay false) and the verdicts go into a JSON file (`checkpoints/detector/webfaces-review.json`).
Then, with q the share of 'face' among the judged, TP and FP the measured counts:

    precision = (TP + q * FP) / (TP + FP)

and the 95% interval comes from the Wilson interval of q (the sampling error of the judging; the judging
itself is not free of error).

    cd training
    /usr/bin/python3 -m moodlens_train.detector.reviewed_precision checkpoints/detector/webfaces-review.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..callbacks import emit_json

VERDICTS = ("face", "not-face", "label-mismatch", "unclear")


def wilson(k: int, n: int, z: float = 1.96) -> tuple:
    """95% Wilson score interval of a proportion k / n."""
    if n <= 0:
        raise ValueError("no judged detections")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _check_verdicts(verdicts: list) -> None:
    unjudged = sum(v is None for v in verdicts)
    if unjudged:  # review_strata writes null for the detections still to be judged
        raise ValueError(f"{unjudged} of {len(verdicts)} sampled detections are not judged yet (verdict null)")
    unknown = sorted({v for v in verdicts if v not in VERDICTS})
    if unknown:
        raise ValueError(f"unknown verdicts {unknown}; use {', '.join(VERDICTS)}")


def estimate(true_positives: int, false_positives: int, verdicts: list) -> dict:
    """The precision once the judged share of real faces among the false detections is counted as correct."""
    _check_verdicts(verdicts)
    n, faces = len(verdicts), sum(v == "face" for v in verdicts)
    lo, hi = wilson(faces, n)
    total = true_positives + false_positives

    def precision(q: float) -> float:
        return (true_positives + q * false_positives) / total

    return {"judged": n, "counts": {v: sum(x == v for x in verdicts) for v in VERDICTS},
            "face_share": faces / n, "face_share_95": [lo, hi],
            "measured_precision": true_positives / total, "precision": precision(faces / n),
            "precision_95": [precision(lo), precision(hi)],
            "true_positives": true_positives, "false_positives": false_positives}


def estimate_strata(true_positives: int, strata: list) -> dict:
    """`estimate` when the false detections fall into strata judged separately, each a pair (its count, the
    verdicts of a random sample of it): precision = (TP + sum of q_i * FP_i) / (TP + FP). The interval takes
    every stratum's Wilson bounds together: wider than an exact one, never narrower."""
    for _, verdicts in strata:
        _check_verdicts(verdicts)
    total = true_positives + sum(n for n, _ in strata)
    faces = [sum(v == "face" for v in verdicts) for _, verdicts in strata]
    shares = [(n, k / len(verdicts), wilson(k, len(verdicts))) for (n, verdicts), k in zip(strata, faces)]
    return {"measured_precision": true_positives / total,
            "precision": (true_positives + sum(n * q for n, q, _ in shares)) / total,
            "precision_95": [(true_positives + sum(n * b[0] for n, _, b in shares)) / total,
                             (true_positives + sum(n * b[1] for n, _, b in shares)) / total],
            "strata": [{"false_positives": n, "judged": len(v), "face_share": q,
                        "counts": {k: sum(x == k for x in v) for k in VERDICTS}}
                       for (n, q, _), (_, v) in zip(shares, strata)],
            "true_positives": true_positives, "false_positives": total - true_positives}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("review", type=Path, help="the verdicts file (figures files are read beside it)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    doc = json.loads(args.review.read_text())
    if "strata" in doc:  # false detections judged in strata (webfaces-review-mirror.json)
        figures = json.loads((args.review.parent / doc["figures"]).read_text())["figures"]
        r = estimate_strata(figures["true_positives"],
                            [(s["false_positives"], [v["verdict"] for v in s["reviewed"]]) for s in doc["strata"]])
        if r["false_positives"] != figures["false_positives"]:
            raise SystemExit(f"{args.review}: the strata hold {r['false_positives']} false detections, the figures "
                             f"{figures['false_positives']}")
        r["recall"] = figures["recall"]
        if args.json:
            emit_json(r)
        else:
            lo, hi = r["precision_95"]
            print(f"recall {100 * r['recall']:.2f}%, precision measured {100 * r['measured_precision']:.1f}%, with "
                  f"the judged samples {100 * r['precision']:.1f}% (95% {100 * lo:.1f}-{100 * hi:.1f}%); strata: "
                  + "; ".join(f"{s['false_positives']} false, {s['judged']} judged: {s['counts']}" for s in r["strata"]))
        return 0
    out = {}
    for name, d in doc["detectors"].items():
        figures = json.loads((args.review.parent / d["figures"]).read_text())[d["figures_key"]]["all"]
        out[name] = estimate(figures["true_positives"], figures["false_positives"],
                             [r["verdict"] for r in d["reviewed"]])
        out[name]["recall"] = figures["recall"]
    if args.json:
        emit_json(out)
        return 0
    for name, r in out.items():
        lo, hi = r["precision_95"]
        print(f"{name}: recall {100 * r['recall']:.1f}%, precision measured {100 * r['measured_precision']:.1f}%, "
              f"with the judged sample {100 * r['precision']:.1f}% (95% {100 * lo:.1f}-{100 * hi:.1f}%); "
              f"{r['judged']} judged: {r['counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
