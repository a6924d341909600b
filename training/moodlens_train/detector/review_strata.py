"""Split a new detector setting's false detections into strata for `reviewed_precision`, from two Node reports.

When a setting (the mirror view, say) changes the detector a little, most of its false detections are the old
ones, already judged by a random sample. Judging them all again would waste the earlier work, so they fall in
two strata:

1. **also false before**: a false detection of the new report that overlaps (same photo, IoU >= `--iou`) a false
   detection of the base report. The earlier judged sample's detections that fall among them are a random
   sample of this stratum, and keep their verdicts.
2. **new**: the rest. `--sample N --seed S` draws N of them at random (Python's `random.Random(S).sample`,
   the same as `random.seed(S)` then `random.sample`, over the report's order: photos as listed, detections as listed) to be judged by eye.

The output is a review file as `reviewed_precision` reads it (`"strata"`), with the new stratum's verdicts
`null` until someone judges them; `--verdicts FILE` copies verdicts already given in an earlier such file (the
same photo and box). With `--check FILE` it exits 1 unless the strata's counts and samples are those of FILE.

    npx moodlens evaluate-detector DIR/images --boxes DIR/boxes.json --iou 0.4 --min-face 20 --json > base.json
    npx moodlens evaluate-detector DIR/images --boxes DIR/boxes.json --iou 0.4 --min-face 20 --mirror --json \\
        > new.json
    python -m moodlens_train.detector.review_strata --base base.json --new new.json \\
        --judged checkpoints/detector/webfaces-review.json --figures webfaces-test-mirror.json \\
        --sample 48 --seed 0 --out /tmp/strata.json
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

from .metrics import iou_matrix
from .split_folder import photo_name

SAME_DETECTION_IOU = 0.5


def false_detections(report: dict) -> list:
    """(photo, [x1, y1, x2, y2], score) for every false detection of a `moodlens evaluate-detector --json`
    report, in the report's order."""
    out = []
    for image in report["perImage"]:
        for d in image["falseDetections"]:
            x, y, w, h = d["box"]
            out.append((image["file"], [x, y, x + w, y + h], d["score"]))
    return out


def _by_photo(detections: list) -> dict:
    grouped: dict = {}
    for i, (photo, box, _) in enumerate(detections):
        grouped.setdefault(photo, []).append((i, box))
    return grouped


def overlapping(boxes: list, others: list, iou: float) -> list:
    """For each (photo, box) of `boxes`, whether some detection of `others` on that photo overlaps it by
    IoU >= `iou`."""
    grouped = _by_photo(others)
    hits = []
    for photo, box in boxes:
        near = grouped.get(photo, [])
        if not near:
            hits.append(False)
            continue
        m = iou_matrix(np.asarray([box], dtype=np.float64), np.asarray([b for _, b in near], dtype=np.float64))
        hits.append(bool(m.max() >= iou))
    return hits


def split_strata(base: list, new: list, iou: float = SAME_DETECTION_IOU) -> tuple:
    """(also false before, new): the new report's false detections, split by overlap with the base's."""
    seen = overlapping([(p, b) for p, b, _ in new], base, iou)
    return [d for d, s in zip(new, seen) if s], [d for d, s in zip(new, seen) if not s]


def _box_xywh(box: list) -> list:
    return [round(box[0], 1), round(box[1], 1), round(box[2] - box[0], 1), round(box[3] - box[1], 1)]


def build(base: dict, new: dict, judged: list, n_sample: int, seed: int, iou: float = SAME_DETECTION_IOU,
          source: str = "webfaces") -> dict:
    """The strata document; `judged` holds the earlier sample's entries (`image`, `box` as x1, y1, x2, y2,
    `verdict`)."""
    old, fresh = split_strata(false_detections(base), false_detections(new), iou)
    # the judged sample names prepared photos (images/webfaces/pic1.jpg), the reports split_folder's names
    where = [(photo_name(source, j["image"]), j["box"]) for j in judged]
    kept = overlapping(where, old, iou)
    # A judged detection can also land in the new stratum (the base report, run elsewhere, missed it by a
    # hair): it is no random draw of that stratum, so it judges neither.
    still = overlapping(where, fresh, iou)
    if n_sample > len(fresh):
        raise ValueError(f"--sample {n_sample} is more than the {len(fresh)} new false detections")
    drawn = random.Random(seed).sample(fresh, n_sample)  # the same draw as random.seed(seed); random.sample
    gone = [j["verdict"] for j, k, f in zip(judged, kept, still) if not k and not f]
    return {
        # what the new setting stopped getting wrong, by the earlier verdicts (a 'face' it drops was a real
        # face the labels leave out: a loss the figures cannot see)
        "judged_no_longer_false": {v: gone.count(v) for v in sorted(set(gone))},
        "judged_in_new_stratum": sum(f and not k for k, f in zip(kept, still)),
        "strata": [
            {"name": "also false in the base report", "false_positives": len(old),
             "reviewed": [j for j, k in zip(judged, kept) if k]},
            {"name": "new in this report", "false_positives": len(fresh),
             "reviewed": [{"index": i, "image": photo, "box_xywh": _box_xywh(box), "score": round(score, 3),
                           "verdict": None} for i, (photo, box, score) in enumerate(drawn)]},
        ],
    }


def copy_verdicts(doc: dict, earlier: dict, iou: float = SAME_DETECTION_IOU) -> int:
    """Fill the new stratum's verdicts from an earlier strata file's judged detections of the same photo and
    box; returns how many are still unjudged."""
    given = [(r["image"], _xyxy(r["box_xywh"]), r["verdict"]) for s in earlier["strata"] for r in s["reviewed"]
             if "box_xywh" in r]
    left = 0
    for r in doc["strata"][1]["reviewed"]:
        for photo, b, verdict in given:
            if _same(r["image"], _xyxy(r["box_xywh"]), photo, b, iou):
                r["verdict"] = verdict
                break
        left += r["verdict"] is None
    return left


def _xyxy(box: list) -> list:
    return [box[0], box[1], box[0] + box[2], box[1] + box[3]]


def _same(photo_a: str, box_a: list, photo_b: str, box_b: list, iou: float) -> bool:
    """One detection twice: the same photo, boxes (x1, y1, x2, y2) overlapping by IoU >= `iou`."""
    return photo_a == photo_b and iou_matrix(np.asarray([box_a], dtype=np.float64),
                                             np.asarray([box_b], dtype=np.float64))[0, 0] >= iou


def differences(doc: dict, reference: dict) -> list:
    """What differs between two strata files in counts and in which detections were judged."""
    out = []
    for i, (a, b) in enumerate(zip(doc["strata"], reference["strata"])):
        if a["false_positives"] != b["false_positives"]:
            out.append(f"stratum {i + 1}: {a['false_positives']} false detections, the reference {b['false_positives']}")
        if len(a["reviewed"]) != len(b["reviewed"]):
            out.append(f"stratum {i + 1}: {len(a['reviewed'])} judged, the reference {len(b['reviewed'])}")
        elif i == 1:
            for r, s in zip(a["reviewed"], b["reviewed"]):
                if not _same(r["image"], _xyxy(r["box_xywh"]), s["image"], _xyxy(s["box_xywh"]), SAME_DETECTION_IOU):
                    out.append(f"stratum 2, sample {r['index']}: {r['image']} {r['box_xywh']}, the reference "
                               f"{s['image']} {s['box_xywh']}")
    if len(doc["strata"]) != len(reference["strata"]):
        out.append(f"{len(doc['strata'])} strata, the reference {len(reference['strata'])}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, required=True, help="the earlier setting's `evaluate-detector --json` report")
    p.add_argument("--new", type=Path, required=True, help="the new setting's report, on the same photos")
    p.add_argument("--judged", type=Path, required=True,
                   help="the earlier judged sample (a review file with a 'detectors' entry)")
    p.add_argument("--judged-detector", default="cnn", help="its entry (default %(default)s)")
    p.add_argument("--figures", required=True,
                   help="the new setting's figures file, named relative to --out (as reviewed_precision reads it)")
    p.add_argument("--sample", type=int, default=48, help="new false detections to draw for judging")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iou", type=float, default=SAME_DETECTION_IOU,
                   help="overlap at which two detections are the same (default %(default)s)")
    p.add_argument("--verdicts", type=Path, help="an earlier strata file whose verdicts to copy")
    p.add_argument("--check", type=Path, help="exit 1 unless the strata match this file's")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    base, new = json.loads(args.base.read_text()), json.loads(args.new.read_text())
    judged = json.loads(args.judged.read_text())["detectors"][args.judged_detector]["reviewed"]
    try:
        doc = build(base, new, judged, args.sample, args.seed, args.iou)
    except ValueError as e:
        print(f"review_strata: {e}", file=sys.stderr)
        return 2
    dropped, strays = doc.pop("judged_no_longer_false"), doc.pop("judged_in_new_stratum")
    doc = {"about": f"strata of {args.new.name}'s false detections against {args.base.name} "
                    f"(IoU >= {args.iou}); stratum 1 judged by {args.judged.name}'s sample, stratum 2 drawn with "
                    f"seed {args.seed}", "figures": args.figures,
           "judged_no_longer_false": dropped, "judged_in_new_stratum": strays, **doc}
    unjudged = copy_verdicts(doc, json.loads(args.verdicts.read_text()), args.iou) if args.verdicts else args.sample
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    s1, s2 = doc["strata"]
    print(f"stratum 1 (also false in the base): {s1['false_positives']} false detections, {len(s1['reviewed'])} "
          f"judged already; stratum 2 (new): {s2['false_positives']}, {len(s2['reviewed'])} drawn, {unjudged} "
          f"still to judge -> {args.out}; of the earlier judged sample, {sum(dropped.values())} are no longer false "
          f"detections: {dropped}; {strays} fall in the new stratum (not counted)", file=sys.stderr)
    if args.check:
        diff = differences(doc, json.loads(args.check.read_text()))
        for d in diff:
            print(f"differs from {args.check}: {d}", file=sys.stderr)
        if diff:
            return 1
        print(f"the same strata and samples as {args.check}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
