"""WIDER FACE validation set (3,226 photos, 39,708 labelled faces) for the public detector benchmark.

Reads two mirrored GitHub repositories with `git archive` / `git show` at pinned commits (see README.md,
"WIDER FACE validation") and writes, under --out (git-ignored; never commit it):

    images/<event>/<name>.jpg   the photos, bytes unchanged
    wider_val.json              {"source": ..., "images": [{"file": "<event>/<name>.jpg", "width", "height",
                                  "boxes": [[x, y, w, h], ...],          # every labelled face, photo pixels
                                  "easy": [i, ...], "medium": [...], "hard": [...]}]}  # 0-based indices

`easy`/`medium`/`hard` are the official subsets' `gt_list` (the faces each difficulty counts; the others are
ignored, neither hit nor miss). The script checks that every photo listed by the ground truth is there and
that its boxes lie inside it (the photos must be WIDER's originals, not resized copies).

    /usr/bin/python3 training/data_sources/prepare_wider_val.py \\
        --images /work/.mirror/Yusepp+YOLOv8-Face/repo --gt /work/.mirror/jhycj+Pytorch_Retinaface/repo \\
        --out training/data/wider_val
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

IMAGES_COMMIT = "4ed272dfa4bb6a6de95496d8c9c90bb3af8e3c5d"  # Yusepp/YOLOv8-Face, folder WIDER_val/images
GT_COMMIT = "baf077f0fbc1b9cb8c1c062c44fdeb7606a090a5"  # jhycj/Pytorch_Retinaface, widerface_evaluate/ground_truth
GT_FOLDER = "widerface_evaluate/ground_truth"
SUBSETS = ("easy", "medium", "hard")


def git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").is_dir() else repo


def git_show(repo: Path, commit: str, path: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(git_dir(repo)), "show", f"{commit}:{path}"],
                          check=True, capture_output=True).stdout


def load_ground_truth(repo: Path, commit: str):
    """{"<event>/<name>.jpg": {"boxes": [[x, y, w, h]], "easy": [...], ...}} from the official .mat files."""
    import scipy.io
    full = scipy.io.loadmat(io.BytesIO(git_show(repo, commit, f"{GT_FOLDER}/wider_face_val.mat")))
    subsets = {s: scipy.io.loadmat(io.BytesIO(git_show(repo, commit, f"{GT_FOLDER}/wider_{s}_val.mat")))["gt_list"]
               for s in SUBSETS}
    out = {}
    for e, event in enumerate(full["event_list"]):
        event_name = str(event[0][0])
        for j, name in enumerate(full["file_list"][e][0]):
            boxes = full["face_bbx_list"][e][0][j][0].astype(float).reshape(-1, 4)
            entry = {"boxes": boxes.tolist()}
            for s in SUBSETS:
                keep = subsets[s][e][0][j][0].reshape(-1)
                entry[s] = sorted(int(k) - 1 for k in keep)  # MATLAB indices are 1-based
            out[f"{event_name}/{name[0][0]}.jpg"] = entry
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=Path, required=True, help="mirror of github:Yusepp/YOLOv8-Face")
    p.add_argument("--gt", type=Path, required=True, help="mirror of github:jhycj/Pytorch_Retinaface")
    p.add_argument("--out", type=Path, default=Path("training/data/wider_val"))
    args = p.parse_args(argv)

    import cv2
    import numpy as np

    gt = load_ground_truth(args.gt, GT_COMMIT)
    archive = subprocess.run(["git", "--git-dir", str(git_dir(args.images)), "archive", IMAGES_COMMIT,
                              "WIDER_val/images"], check=True, capture_output=True).stdout
    prefix = "WIDER_val/images/"
    found = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            if member.isfile() and member.name.startswith(prefix) and member.name.lower().endswith(".jpg"):
                rel = member.name[len(prefix):]
                if rel in gt:
                    found[rel] = tar.extractfile(member).read()
    missing = sorted(set(gt) - set(found))
    if missing:
        print(f"{len(missing)} photos of the ground truth are missing, e.g. {missing[:3]}", file=sys.stderr)
        return 1

    images = []
    outside = 0
    for rel in sorted(gt):
        data = found[rel]
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            print(f"{rel}: not a decodable image", file=sys.stderr)
            return 1
        h, w = image.shape[:2]
        b = np.asarray(gt[rel]["boxes"]).reshape(-1, 4)
        outside += int(((b[:, 0] + b[:, 2] > w + 2) | (b[:, 1] + b[:, 3] > h + 2)).sum())
        path = args.out / "images" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        images.append({"file": rel, "width": w, "height": h, **gt[rel]})
    if outside > 10:  # a handful of WIDER's own labels overrun the photo by a few pixels
        print(f"{outside} boxes lie outside their photos: are these WIDER's original photos?", file=sys.stderr)
        return 1
    source = {"images": f"github:Yusepp/YOLOv8-Face@{IMAGES_COMMIT} WIDER_val/images",
              "ground_truth": f"github:jhycj/Pytorch_Retinaface@{GT_COMMIT} {GT_FOLDER}",
              "terms": "WIDER FACE: non-commercial research and educational use only"}
    (args.out / "wider_val.json").write_text(json.dumps({"source": source, "images": images}))
    faces = sum(len(i["boxes"]) for i in images)
    counts = {s: sum(len(i[s]) for i in images) for s in SUBSETS}
    print(f"{len(images)} photos, {faces} faces ({counts}), {outside} boxes past a photo's edge -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
