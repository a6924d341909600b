"""Caltech 10K WebFaces as a held-out detector test of ordinary photos of people (issue 21's kind of photo).

The set (Angelova, Abu-Mostafa and Perona, 2005) marks four points per frontal face (eye centres, nose tip,
mouth centre), not boxes. A box is fitted from the four points by a rule calibrated on face300w's training
crops, where both the four points (from the 68 iBUG points) and our face box (`face300w_box_and_kps`) are
known; the rule is chosen by IoU on face300w's val crops and never looks at WebFaces or at any detector.
Photos that repeat a photo of the detector's training data and repeats within the set are left out: a
candidate pair is within HELD_OUT_COPY_BITS of dHash, and it is a copy when its 64x64 gray thumbnails also
correlate by at least SAME_THUMB_NCC (dHash alone calls 1,562 plain head-and-shoulders portraits copies of
face300w and web photos, `meta.json`'s dhash_alone_not_copies; none of them correlates above 0.85, and the
18 looked at by eye, the 12 most alike among them, were different people). Nothing here is used for training
or selection: test only.

Writes, under --out (git-ignored; never commit it):

    images/webfaces/<name>.jpg   the photos, bytes unchanged
    test.json                    detector split format (`moodlens_train.detector.data.load_split`)
    meta.json                    the source, the box rule and its face300w check, what was left out

    /usr/bin/python3 training/data_sources/prepare_webfaces.py --repo /work/.mirror/PigeonDan1+face_reco/repo \\
        --face300w ../shared/data/face300w/face300w-train.tar.gz --train-data training/data/detector-more \\
        --out training/data/webfaces
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prepare_detector_data import HELD_OUT_COPY_BITS, dhash, face300w_box_and_kps, git_files, hamming, write  # noqa: E402

WEBFACES_COMMIT = "4735d6ba6428f110b96b5b9edcfcfbcdfc72e826"  # PigeonDan1/face_reco
GT_PATH = "WebFaces_GroundThruth.txt"
PHOTO_FOLDER = "Caltech_WebFaces/"
# candidate face scales, each a function of the four points (eye-to-eye, eyes-to-mouth, their blend)
SCALES = ("eyes", "eyes_mouth", "blend")
SAME_THUMB_NCC = 0.95


def four_points(p: np.ndarray) -> np.ndarray:
    """68 iBUG points -> WebFaces's four: left eye centre, right eye centre, nose tip, mouth centre."""
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[60:68].mean(0)])


def face_frame(q: np.ndarray, scale: str):
    """(origin, unit x along the eyes, unit y down the face, size) of four points."""
    origin = (q[0] + q[1]) / 2
    ex = q[1] - q[0]
    iod = float(np.hypot(*ex))
    ux = ex / max(iod, 1e-6)
    uy = np.array([-ux[1], ux[0]])
    mouth = float(np.dot(q[3] - origin, uy))
    size = {"eyes": iod, "eyes_mouth": mouth, "blend": 0.5 * (iod + mouth)}[scale]
    return origin, ux, uy, max(size, 1e-6)


def fit_rule(points: list, boxes: list, scale: str) -> dict:
    """Median box centre offset (in the face frame) and width/height (axis-aligned), in units of the size."""
    rows = []
    for q, b in zip(points, boxes):
        origin, ux, uy, s = face_frame(q, scale)
        c = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) - origin
        rows.append([np.dot(c, ux) / s, np.dot(c, uy) / s, (b[2] - b[0]) / s, (b[3] - b[1]) / s])
    m = np.median(np.array(rows), axis=0)
    return {"scale": scale, "cx": float(m[0]), "cy": float(m[1]), "w": float(m[2]), "h": float(m[3])}


def rule_box(q: np.ndarray, rule: dict) -> list:
    origin, ux, uy, s = face_frame(q, rule["scale"])
    c = origin + (rule["cx"] * ux + rule["cy"] * uy) * s
    w, h = rule["w"] * s, rule["h"] * s
    return [float(c[0] - w / 2), float(c[1] - h / 2), float(c[0] + w / 2), float(c[1] + h / 2)]


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def calibrate(archive: Path) -> dict:
    """The box rule from face300w (train crops fit it, val crops choose the scale and report its IoU); the
    same train/val split as prepare_detector_data."""
    with tarfile.open(archive) as tar:
        meta = json.load(tar.extractfile("face300w/landmarks.json"))
    sets = {"train": ([], []), "val": ([], [])}
    for i, item in enumerate(meta["items"]):
        p = np.asarray(item["points"], dtype=np.float64)
        box, _ = face300w_box_and_kps(p)
        pts, bxs = sets["val" if i % 10 == 9 else "train"]
        pts.append(four_points(p))
        bxs.append(box)
    best = None
    for scale in SCALES:
        rule = fit_rule(*sets["train"], scale)
        ious = [iou(rule_box(q, rule), b) for q, b in zip(*sets["val"])]
        rule["val_iou_median"] = round(float(np.median(ious)), 4)
        rule["val_iou_min"] = round(float(np.min(ious)), 4)
        rule["val_iou_under_0.6"] = int(sum(v < 0.6 for v in ious))
        rule["val_faces"] = len(ious)
        if best is None or rule["val_iou_median"] > best["val_iou_median"]:
            best = rule
    return best


def read_ground_truth(text: str) -> dict:
    """{photo name: [4x2 points, ...]} from WebFaces_GroundThruth.txt (name, then 8 numbers per line)."""
    faces: dict = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 9:
            continue
        faces.setdefault(parts[0], []).append(np.array([float(v) for v in parts[1:9]]).reshape(4, 2))
    return faces


def thumbnail(data: bytes) -> np.ndarray:
    """The photo as a zero-mean, unit-norm 64x64 gray vector (for the copy check)."""
    with Image.open(io.BytesIO(data)) as im:
        v = np.asarray(im.convert("L").resize((64, 64), Image.BILINEAR), dtype=np.float64).ravel()
    v = v - v.mean()
    return v / max(float(np.linalg.norm(v)), 1e-9)


class CopyFinder:
    """Photos seen so far; `copy_of(data)` names the one this photo copies (dHash candidates, thumbnail check)."""

    def __init__(self):
        self.hashes: list = []
        self.names: list = []
        self.read: list = []  # () -> bytes, so thumbnails are made only for dHash candidates
        self.cleared = 0  # photos with dHash candidates that the thumbnail check found to be no copy

    def add(self, name: str, h: int, read) -> None:
        self.hashes.append(h)
        self.names.append(name)
        self.read.append(read)

    def copy_of(self, h: int, data: bytes, bits: int) -> str:
        if not self.hashes:
            return ""
        near = np.nonzero(hamming(h, np.array(self.hashes, np.uint64)) <= bits)[0]
        if len(near) == 0:
            return ""
        mine = thumbnail(data)
        for i in near:
            if float(mine @ thumbnail(self.read[i]())) >= SAME_THUMB_NCC:
                return self.names[i]
        self.cleared += 1
        return ""


def training_photos(train_data: Path, finder: CopyFinder) -> None:
    """Adds every photo of a prepared detector folder's train and val splits (what must not reappear in a test)."""
    for split in ("train", "val"):
        listing = train_data / f"{split}.json"
        if listing.exists():
            for item in json.loads(listing.read_text()):
                path = train_data / item["image"]
                finder.add(str(path), dhash(path.read_bytes()), path.read_bytes)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", type=Path, required=True, help="git dir of PigeonDan1/face_reco")
    p.add_argument("--commit", default=WEBFACES_COMMIT)
    p.add_argument("--face300w", type=Path, required=True, help="face300w-train.tar.gz (calibrates the box rule)")
    p.add_argument("--train-data", type=Path, action="append", default=[],
                   help="a prepared detector data folder whose train/val photos must not reappear (repeatable)")
    p.add_argument("--out", type=Path, default=Path("training/data/webfaces"))
    args = p.parse_args(argv)

    rule = calibrate(args.face300w)
    print(f"box rule ({rule['scale']}): face300w val IoU median {rule['val_iou_median']}, "
          f"min {rule['val_iou_min']}, {rule['val_iou_under_0.6']}/{rule['val_faces']} under 0.6", file=sys.stderr)
    files = git_files(args.repo, args.commit, GT_PATH, PHOTO_FOLDER)
    truth = read_ground_truth(files[GT_PATH].decode())
    training = CopyFinder()
    for folder in args.train_data:
        training_photos(folder, training)
    kept = CopyFinder()
    items = []
    left = {"missing": [], "training_copy": [], "repeat": []}
    for name in sorted(truth):
        data = files.get(PHOTO_FOLDER + name)
        if data is None:
            left["missing"].append(name)
            continue
        h = dhash(data)
        if training.copy_of(h, data, HELD_OUT_COPY_BITS):
            left["training_copy"].append(name)
            continue
        if kept.copy_of(h, data, HELD_OUT_COPY_BITS):
            left["repeat"].append(name)
            continue
        kept.add(name, h, lambda data=data: data)
        rel = f"images/webfaces/{name}"
        w, hgt = write(args.out, rel, data)
        faces = []
        for q in truth[name]:
            x1, y1, x2, y2 = rule_box(q, rule)
            box = [round(max(0.0, x1), 2), round(max(0.0, y1), 2), round(min(float(w), x2), 2),
                   round(min(float(hgt), y2), 2)]
            # four of the five keypoints a detector predicts; the mouth corners are not marked
            faces.append({"box": box, "kps": None, "points4": [[round(float(a), 2), round(float(b), 2)] for a, b in q]})
        items.append({"image": rel, "width": w, "height": hgt, "source": "webfaces", "group": Path(name).stem,
                      "faces": faces})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "test.json").write_text(json.dumps(items, indent=0) + "\n")
    meta = {"source": f"PigeonDan1/face_reco@{args.commit}", "photos": len(items),
            "faces": sum(len(it["faces"]) for it in items), "box_rule": rule,
            "left_out": {k: len(v) for k, v in left.items()},
            # photos the dHash rule alone would have left out, kept because their thumbnails differ
            "dhash_alone_not_copies": {"training": training.cleared, "repeat": kept.cleared},
            "left_out_names": left}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{meta['photos']} photos, {meta['faces']} faces; left out {meta['left_out']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
