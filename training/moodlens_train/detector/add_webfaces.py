"""A data folder with the detector's own splits plus Caltech WebFaces split three ways, so ordinary photos of
people can be trained on, selected on and still tested on photos never used for either.

    /usr/bin/python3 -m moodlens_train.detector.add_webfaces --detector data/detector --webfaces data/webfaces \\
        --model checkpoints/detector/best.pt --out data/detector-web

WebFaces photos (prepared by `training/data_sources/prepare_webfaces.py`, every photo in its `test.json`) go to
a split by their name alone (`split_of`: SHA-1 of the name; 35% train, 15% val, 50% test), fixed before any
model was trained on them. The folder's splits:
- `train.json`: the detector's train split plus the WebFaces train photos;
- `val.json`: the detector's val split plus the WebFaces val photos (selection only);
- `test.json`: the detector's test split, unchanged; `webfaces-test.json`: the WebFaces test photos.

WebFaces marks only some faces (frontal ones, and not all of them). Trained as they are, the faces it leaves out
would teach the network that faces are background. So in the training photos, every face the `--model`
detector finds (score >= --ignore-score, all its passes) that overlaps no labelled face (IoU < 0.3) is added as
an ignore region (`"ignore": true`: neither a target nor background). Val and test keep their labels as they
are: their measured precision stays a lower bound, the same for every model compared.

Images are not copied: `OUT/images/<source>` are symbolic links to the two folders' image folders.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

from .passes import add_pass_arguments, pass_settings

SHARES = (("train", 7), ("val", 3), ("test", 10))  # twentieths
PSEUDO_IOU = 0.3


def split_of(name: str) -> str:
    """The WebFaces split of a photo, from its name alone."""
    k = int(hashlib.sha1(name.encode()).hexdigest(), 16) % sum(n for _, n in SHARES)
    for split, n in SHARES:
        if k < n:
            return split
        k -= n
    raise AssertionError("unreachable")


def unlabelled_faces(found: np.ndarray, labelled: np.ndarray, iou: float = PSEUDO_IOU) -> np.ndarray:
    """The found boxes that overlap no labelled box at IoU >= iou."""
    from .metrics import iou_matrix
    if not len(found) or not len(labelled):
        return found.reshape(-1, 4)
    return found[iou_matrix(found, labelled).max(1) < iou]


def with_ignore_regions(items: List[Dict], root: Path, model, threshold: float, passes: Dict) -> int:
    """Adds `"ignore": true` faces to each item where the model finds an unlabelled face; returns how many."""
    from .metrics import detect
    added = 0
    for i, it in enumerate(items):
        bgr = cv2.imread(str(root / it["image"]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"{root / it['image']}: not a readable image")
        found = detect(model, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), threshold=threshold, **passes)["boxes"]
        labelled = np.array([f["box"] for f in it["faces"]], np.float32).reshape(-1, 4)
        for box in unlabelled_faces(found, labelled):
            it["faces"].append({"box": [round(float(v), 2) for v in box], "kps": None, "ignore": True})
            added += 1
        if (i + 1) % 200 == 0:
            print(f"  {i + 1}/{len(items)} photos, {added} ignore regions", file=sys.stderr, flush=True)
    return added


def link_images(src_root: Path, out: Path) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    for d in sorted((src_root / "images").iterdir()):
        link = out / "images" / d.name
        if link.is_symlink() or link.exists():
            if link.resolve() != d.resolve():
                raise SystemExit(f"{link}: already links elsewhere ({link.resolve()})")
            continue
        link.symlink_to(d.resolve(), target_is_directory=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--detector", type=Path, default=Path("data/detector"), help="the detector's prepared data")
    p.add_argument("--webfaces", type=Path, default=Path("data/webfaces"), help="prepare_webfaces.py's output")
    p.add_argument("--model", type=Path, required=True,
                   help="a detector checkpoint that marks the faces WebFaces leaves out in its training photos")
    p.add_argument("--ignore-score", type=float, default=0.3,
                   help="a found, unlabelled face at this score or above becomes an ignore region (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("data/detector-web"))
    # the shipped model's passes (its ONNX metadata) by default, so every face it would report is found
    p.add_argument("--long-side", type=int, default=416, help="the first pass's long side (default %(default)s)")
    add_pass_arguments(p, fine_long_side=640)
    p.set_defaults(coarse_long_side=256)
    args = p.parse_args(argv)

    from .export import load_model
    web = json.loads((args.webfaces / "test.json").read_text())
    parts: Dict[str, List[Dict]] = {split: [] for split, _ in SHARES}
    for it in web:
        parts[split_of(it["group"])].append(it)
    model, _ = load_model(args.model)
    passes = {"long_side": args.long_side, **pass_settings(args)}
    print(f"WebFaces: {', '.join(f'{k} {len(v)}' for k, v in parts.items())} photos; marking unlabelled faces in "
          f"the training photos with {args.model}", file=sys.stderr, flush=True)
    added = with_ignore_regions(parts["train"], args.webfaces, model, args.ignore_score, passes)
    args.out.mkdir(parents=True, exist_ok=True)
    link_images(args.detector, args.out)
    link_images(args.webfaces, args.out)
    own = {s: json.loads((args.detector / f"{s}.json").read_text()) for s in ("train", "val", "test")}
    manifests = {"train.json": own["train"] + parts["train"], "val.json": own["val"] + parts["val"],
                 "test.json": own["test"], "webfaces-test.json": parts["test"]}
    for name, items in manifests.items():
        (args.out / name).write_text(json.dumps(items) + "\n")

    def faces(items, ignore=False):
        return sum(1 for it in items for f in it["faces"] if bool(f.get("ignore")) == ignore)

    summary = {"webfaces_split": {k: {"photos": len(v), "faces": faces(v)} for k, v in parts.items()},
               "shares_of_20": dict(SHARES), "ignore_regions": added, "ignore_score": args.ignore_score,
               "ignore_iou": PSEUDO_IOU, "marked_by": str(args.model), "passes": passes,
               "photos": {k: len(v) for k, v in manifests.items()}}
    (args.out / "meta.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
