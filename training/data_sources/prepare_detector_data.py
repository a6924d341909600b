"""Prepares the face-detector data (boxes, and 5 keypoints where known) into an ignored folder.

    /usr/bin/python3 training/data_sources/prepare_detector_data.py \\
        --face300w ../shared/data/face300w/face300w-train.tar.gz \\
        --ns18 /work/.mirror/nisasiimsek+face-detector/repo \\
        --datavase /work/.mirror/Puneet-chauhan01+Face-tracking/repo \\
        --out training/data/detector

--ns18 and --datavase are git directories (a bare mirror from the `fetch` tool or a clone's `.git`/work tree):
files are read blob by blob (`git_files`) at --ns18-commit / --datavase-commit (the commits the README names).

Writes OUT/images/<source>/<name>.jpg (copied bytes, never re-encoded) and OUT/{train,val,test}.json:
`[{"image": "images/...", "width": W, "height": H, "source": S, "group": G, "faces": [{"box": [x1, y1, x2, y2],
"kps": [[x, y] x 5] or null}]}]`, pixel coordinates (x2/y2 exclusive edges, floats). Keypoint order (as
RetinaFace/YuNet): the eye on the image's left, the eye on the image's right, nose tip, mouth corner on the image's
left, mouth corner on the image's right.

Splits (by source photo, never by augmented copy; see README.md):
- train: face300w crops except every 10th; ns18 source photos face_001..face_014;
- val (selection only): every 10th face300w crop; ns18 source photos face_015..face_020 (all their copies);
- dropped: the ns18 `face_augNNN` images (augmented copies of unknown source photos, which may be any train, val
  or test photo: in no split);
- test (held out, reported): ns18 face_021..face_030 (every augmented copy of them); all 20 datavase frames.
"""
from __future__ import annotations

import argparse
import functools
import io
import json
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

ECE_COMMIT = "b39671543d7c6582d1d4b122c1f0d796e4583cb8"
ECE_DIR = "Face-Detection-2"
MASK_COMMIT = "c5d6b886a9409a93d3b52387d562fdb38546eecf"
MASK_DIR = "data"
# dHash distance (bits of 64) under which two images count as the same photo
SAME_PHOTO_BITS = 4
NS18_COMMIT = "c460f2434b1429c7ff3a8e6df1aac1a753a9c7db"
NS18_DIR = "face/Face_detectorns18-2"
DATAVASE_COMMIT = "7d05d8d524aec6d830a01906781effb1461cb4cf"
DATAVASE_DIR = "gglabels/datavase.v2i.voc/train"
WIDER_TRAIN_COMMIT = "23a15f7410120d2523dbb410f6f2c508153b677d"
WIDER_TRAIN_DIR = "widerface/train"
ILC_COMMIT = "1178de48480a2fb7ca5f3c200f335f97fcd0c434"
MACWIN_COMMIT = "5791f890b03dc73fb6201e086073545bbd32b2b2"
# extra training photos this close (dHash bits) to any val or test photo, or to any photo of the Kaggle mask set
# (whose photos are in all three splits), are left out: a looser rule than SAME_PHOTO_BITS, as these sets
# re-encode and resize the same web photos
HELD_OUT_COPY_BITS = 10
NS18_TRAIN_LAST = 14  # ns18 source photos face_001..face_014 train, face_015..face_020 val, face_021..face_030 test


def face300w_box_and_kps(p: np.ndarray):
    """68 iBUG points -> (a face box from the brows' top to the chin, jaw-wide; 5 keypoints).

    The 68 points stop at the brows; detectors' boxes (WIDER, the Haar cascade) reach into the forehead, so the
    top is raised by a fifth of the brow-to-chin height."""
    x1, x2 = float(p[:, 0].min()), float(p[:, 0].max())
    brow = float(p[17:27, 1].min())
    chin = float(p[:, 1].max())
    y1 = brow - 0.2 * (chin - brow)
    kps = [p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]]
    return [x1, y1, x2 + 1.0, chin + 1.0], [[round(float(a), 2), round(float(b), 2)] for a, b in kps]


def git_files(gitdir: Path, commit: str, *prefixes: str) -> dict:
    """{path: bytes} of the files under the prefixes at commit, read blob by blob: unlike `git archive` this
    copes with a mirror that lacks some blobs (a snapshot without its largest files); those are left out."""
    gd = gitdir / ".git" if (gitdir / ".git").is_dir() else gitdir
    tree = subprocess.run(["git", f"--git-dir={gd}", "ls-tree", "-r", commit, "--", *prefixes], check=True,
                          capture_output=True, text=True).stdout
    entries = [(ln.split()[2], ln.split("\t", 1)[1]) for ln in tree.splitlines() if ln.split()[1] == "blob"]
    proc = subprocess.run(["git", f"--git-dir={gd}", "cat-file", "--batch"], check=True, capture_output=True,
                          input="".join(f"{sha}\n" for sha, _ in entries).encode())
    out, data, pos = {}, proc.stdout, 0
    for sha, path in entries:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if header[-1] == b"missing":
            continue
        size = int(header[2])
        out[path] = data[pos:pos + size]
        pos += size + 1
    return out


def yolo_images(gitdir: Path, commit: str, folder: str):
    """(image path, image bytes, YOLO label text or None) for every image under FOLDER/.../images/ at commit, in
    path order; the label is the file of the same stem under the sibling labels/ folder."""
    files = git_files(gitdir, commit, folder)
    for name in sorted(files):
        if "/images/" not in name:
            continue
        label = name.replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt"
        yield name, files[name], (files[label].decode() if label in files else None)


def write(out: Path, rel: str, data: bytes) -> tuple:
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def prepare_face300w(archive: Path, out: Path, splits: dict) -> None:
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        meta = json.load(tar.extractfile(members["face300w/landmarks.json"]))
        for i, item in enumerate(meta["items"]):
            data = tar.extractfile(members["face300w/" + item["image"]]).read()
            rel = "images/face300w/" + Path(item["image"]).name
            w, h = write(out, rel, data)
            box, kps = face300w_box_and_kps(np.asarray(item["points"], dtype=np.float64))
            split = "val" if i % 10 == 9 else "train"
            splits[split].append({"image": rel, "width": w, "height": h, "source": "face300w",
                                  "group": Path(item["image"]).stem, "faces": [{"box": box, "kps": kps}]})


def yolo_faces(text: str, w: int, h: int) -> list:
    faces = []
    for line in text.splitlines():
        v = [float(t) for t in line.split()]
        if not v:
            continue
        if len(v) == 5:
            _, cx, cy, bw, bh = v
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
        elif len(v) >= 7 and len(v) % 2 == 1:  # a polygon (a rotated copy's box): its bounding box
            xs, ys = np.asarray(v[1::2]) * w, np.asarray(v[2::2]) * h
            box = [xs.min(), ys.min(), xs.max(), ys.max()]
        else:
            raise ValueError(f"unexpected YOLO label line {line!r}")
        box = [round(float(np.clip(box[0], 0, w)), 2), round(float(np.clip(box[1], 0, h)), 2),
               round(float(np.clip(box[2], 0, w)), 2), round(float(np.clip(box[3], 0, h)), 2)]
        faces.append({"box": box, "kps": None})
    return faces


def ns18_split(name: str) -> tuple:
    """(split or None for dropped, group). The `face_augNNN` images are augmented copies of unknown source photos
    (possibly of train or test photos): they are used nowhere, so val holds distinct source photos only."""
    m = re.match(r"face_(\d+)_aug", name)
    if not m:
        return None, re.match(r"(face_aug\d+)", name).group(1)
    n = int(m.group(1))
    return ("train" if n <= NS18_TRAIN_LAST else "val" if n <= 20 else "test"), f"face_{n:03d}"


def prepare_ns18(gitdir: Path, commit: str, out: Path, splits: dict) -> None:
    for name, data, text in yolo_images(gitdir, commit, NS18_DIR):
        stem = Path(name).stem
        split, group = ns18_split(stem)
        if split is None:
            continue
        rel = f"images/ns18/{name.split('/')[-3]}_{stem}.jpg"
        w, h = write(out, rel, data)
        splits[split].append({"image": rel, "width": w, "height": h, "source": "ns18", "group": group,
                              "faces": yolo_faces(text or "", w, h)})


def voc_faces(xml: bytes, inclusive_edges: bool = False) -> list:
    """The boxes of a Pascal VOC file as faces without keypoints; `inclusive_edges` for files whose xmax/ymax
    name the last pixel inside the box (labelImg's convention in datavase), so one is added."""
    edge = 1.0 if inclusive_edges else 0.0
    faces = []
    for o in ET.fromstring(xml).iter("bndbox"):
        x1, y1, x2, y2 = (float(o.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
        faces.append({"box": [x1, y1, x2 + edge, y2 + edge], "kps": None})
    return faces


def prepare_datavase(gitdir: Path, commit: str, out: Path, splits: dict) -> None:
    files = git_files(gitdir, commit, DATAVASE_DIR)
    for name in sorted(files):
        if "/images/" not in name:
            continue
        xml = name.replace("/images/", "/label/").rsplit(".", 1)[0] + ".xml"
        rel = f"images/datavase/{Path(name).stem}.jpg"
        w, h = write(out, rel, files[name])
        splits["test"].append({"image": rel, "width": w, "height": h, "source": "datavase",
                               "group": "datavase", "faces": voc_faces(files[xml], inclusive_edges=True)})


def dhash(data: bytes) -> int:
    """64-bit difference hash of the image (gray 9x8): near-identical photos differ in a few bits."""
    with Image.open(io.BytesIO(data)) as im:
        g = np.asarray(im.convert("L").resize((9, 8), Image.BILINEAR), dtype=np.int16)
    bits = (g[:, 1:] > g[:, :-1]).flatten()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming(a: int, hashes: np.ndarray) -> np.ndarray:
    x = np.bitwise_xor(hashes, np.uint64(a))
    return np.array([bin(int(v)).count("1") for v in x])


def bucket(group: str) -> int:
    """A stable 0-99 per group (CRC-32), so a group's split never depends on what else is present."""
    return zlib.crc32(group.encode()) % 100


def read_mask_set(gitdir: Path, commit: str):
    """The Kaggle "Face Mask Detection" set: [(name, png bytes, faces)], faces from the original VOC files."""
    files = git_files(gitdir, commit, MASK_DIR)
    out = []
    for name in sorted(files, key=lambda n: (len(n), n)):
        if not (name.startswith(f"{MASK_DIR}/images/") and name.endswith(".png")):
            continue
        stem = Path(name).stem
        out.append((stem, files[name], voc_faces(files[f"{MASK_DIR}/xml/{stem}.xml"])))
    return out


def prepare_mask(photos, out: Path, splits: dict) -> None:
    """Split by photo (near-identical photos grouped, SAME_PHOTO_BITS): 50% train, 15% val, 35% test."""
    hashes = np.array([dhash(d) for _, d, _ in photos], dtype=np.uint64)
    parent = list(range(len(photos)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(photos)):
        for j in np.where(hamming(int(hashes[i]), hashes[i + 1:]) <= SAME_PHOTO_BITS)[0]:
            parent[find(i + 1 + int(j))] = find(i)
    for i, (stem, data, faces) in enumerate(photos):
        group = photos[find(i)][0]
        b = bucket("mask/" + group)
        split = "train" if b < 50 else "val" if b < 65 else "test"
        rel = f"images/mask/{stem}.png"
        w, h = write(out, rel, data)
        splits[split].append({"image": rel, "width": w, "height": h, "source": "mask", "group": group,
                              "faces": faces})


def ece_group(stem: str) -> str:
    """The video or photo an ECE image comes from: its Roboflow name without the frame number."""
    base = stem.split(".rf.")[0]
    base = re.sub(r"_(jpe?g|png)$", "", base, flags=re.I)
    return re.sub(r"[-_]\d+$", "", base) or base


def prepare_ece(gitdir: Path, commit: str, out: Path, splits: dict, mask_hashes: np.ndarray) -> int:
    """Roboflow "Face Detection" (ece342 fork): split by video/photo group, 80% train, 10% val, 10% test;
    images that are grey copies of mask-set photos are left out (they would straddle that set's splits).
    Returns how many were left out."""
    dropped = 0
    for name, data, text in yolo_images(gitdir, commit, ECE_DIR):
        if len(mask_hashes) and hamming(dhash(data), mask_hashes).min() <= SAME_PHOTO_BITS:
            dropped += 1
            continue
        stem = Path(name).stem
        group = ece_group(stem)
        b = bucket("ece/" + group)
        split = "train" if b < 80 else "val" if b < 90 else "test"
        rel = f"images/ece/{name.split('/')[-3]}_{stem}{Path(name).suffix.lower()}"
        w, h = write(out, rel, data)
        splits[split].append({"image": rel, "width": w, "height": h, "source": "ece", "group": group,
                              "faces": yolo_faces(text or "", w, h)})
    return dropped


def prepare_wider_train(gitdir: Path, commit: str, out: Path, splits: dict) -> int:
    """WIDER FACE training photos (a 581-photo share: events 0 Parade and 1 Handshaking) with YOLO labels
    converted from the official ground truth (every labelled face, tiny ones too: MIN_FACE makes those ignore
    regions). Train split only: WIDER's val photos are the public benchmark we report, never trained on, and
    selection stays on our own val split. Returns how many photos lacked a label file (left out)."""
    missing = 0
    for name, data, text in yolo_images(gitdir, commit, WIDER_TRAIN_DIR):
        if text is None:
            missing += 1
            continue
        stem = Path(name).stem
        rel = f"images/wider/{stem}.jpg"
        w, h = write(out, rel, data)
        splits["train"].append({"image": rel, "width": w, "height": h, "source": "wider", "group": stem,
                                "faces": yolo_faces(text, w, h)})
    return missing


def read_extra_masked(ilc: Optional[Path], macwin: Optional[Path], ilc_commit: str, macwin_commit: str):
    """Hand-labelled web photos of people with and without masks: [(source, stem, bytes, faces_at)], where
    `faces_at(width, height)` gives the faces (YOLO labels are fractions of a size only the decoded photo knows).
    ilc: `jolignier/face-mask-dataset-ilc-2021` (Pascal VOC; with_mask, without_mask and with_incorrect_mask
    are all faces); macwin: `MacwinWin/face_mask_dataset` (YOLO; both classes are faces)."""
    out = []
    if ilc:
        files = git_files(ilc, ilc_commit, "JPEGImages", "annotations")
        for name in sorted(files):
            stem = Path(name).stem
            if name.startswith("JPEGImages/") and f"annotations/{stem}.xml" in files:
                faces = voc_faces(files[f"annotations/{stem}.xml"])
                out.append(("ilc", stem, files[name], lambda w, h, faces=faces: faces))
    if macwin:
        for name, data, text in yolo_images(macwin, macwin_commit, "data"):
            if text is not None:
                out.append(("macwin", Path(name).stem, data, functools.partial(yolo_faces, text)))
    return out


def prepare_extra_masked(photos, out: Path, splits: dict, held_out_hashes: np.ndarray) -> dict:
    """Train split only. Leaves out photos within HELD_OUT_COPY_BITS of a held-out or mask-set photo and
    repeats (within SAME_PHOTO_BITS of one already taken). Returns counts of what was left out."""
    kept_hashes: list = []
    left = {"held-out or mask-set copies": 0, "repeats": 0, "unreadable": 0}
    for source, stem, data, faces_at in photos:
        try:
            h = dhash(data)
        except Exception:  # a truncated file in the snapshot
            left["unreadable"] += 1
            continue
        if len(held_out_hashes) and hamming(h, held_out_hashes).min() <= HELD_OUT_COPY_BITS:
            left["held-out or mask-set copies"] += 1
            continue
        if kept_hashes and hamming(h, np.array(kept_hashes, dtype=np.uint64)).min() <= SAME_PHOTO_BITS:
            left["repeats"] += 1
            continue
        kept_hashes.append(h)
        ext = ".png" if data[:4] == b"\x89PNG" else ".jpg"
        rel = f"images/{source}/{stem}{ext}"
        w, h_ = write(out, rel, data)
        splits["train"].append({"image": rel, "width": w, "height": h_, "source": source, "group": stem,
                                "faces": faces_at(w, h_)})
    return left


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--face300w", type=Path, required=True, help="face300w-train.tar.gz")
    p.add_argument("--ns18", type=Path, required=True, help="git dir of nisasiimsek/face-detector")
    p.add_argument("--ns18-commit", default=NS18_COMMIT)
    p.add_argument("--datavase", type=Path, help="git dir of Puneet-chauhan01/Face-tracking (test frames)")
    p.add_argument("--datavase-commit", default=DATAVASE_COMMIT)
    p.add_argument("--ece", type=Path, help="git dir of SaltyfishQAQQ/ECE342-CV_Model (Roboflow Face Detection)")
    p.add_argument("--ece-commit", default=ECE_COMMIT)
    p.add_argument("--mask", type=Path, help="git dir of iAmEthanMai/mask-detection-dataset (Kaggle Face Mask Detection)")
    p.add_argument("--mask-commit", default=MASK_COMMIT)
    p.add_argument("--wider-train", type=Path,
                   help="git dir of wang-siyu934/ultralytics-main (581 WIDER FACE training photos; train only)")
    p.add_argument("--wider-train-commit", default=WIDER_TRAIN_COMMIT)
    p.add_argument("--ilc", type=Path, help="git dir of jolignier/face-mask-dataset-ilc-2021 (train only)")
    p.add_argument("--ilc-commit", default=ILC_COMMIT)
    p.add_argument("--macwin", type=Path, help="git dir of MacwinWin/face_mask_dataset (train only)")
    p.add_argument("--macwin-commit", default=MACWIN_COMMIT)
    p.add_argument("--out", type=Path, default=Path("training/data/detector"))
    args = p.parse_args(argv)
    splits = {"train": [], "val": [], "test": []}
    prepare_face300w(args.face300w, args.out, splits)
    prepare_ns18(args.ns18, args.ns18_commit, args.out, splits)
    if args.datavase:
        prepare_datavase(args.datavase, args.datavase_commit, args.out, splits)
    mask_hashes = np.zeros(0, np.uint64)
    if args.mask:
        photos = read_mask_set(args.mask, args.mask_commit)
        mask_hashes = np.array([dhash(d) for _, d, _ in photos], dtype=np.uint64)
        prepare_mask(photos, args.out, splits)
    if args.ece:
        dropped = prepare_ece(args.ece, args.ece_commit, args.out, splits, mask_hashes)
        print(f"ece: {dropped} images left out as copies of mask-set photos")
    if args.wider_train:
        missing = prepare_wider_train(args.wider_train, args.wider_train_commit, args.out, splits)
        print(f"wider: {missing} photos without a label file left out")
    if args.ilc or args.macwin:
        if not args.mask:
            raise SystemExit("--ilc/--macwin need --mask: their copies of mask-set photos must be left out")
        held = [mask_hashes] + [np.array([dhash((args.out / it["image"]).read_bytes()) for it in splits[k]],
                                         dtype=np.uint64) for k in ("val", "test")]
        left = prepare_extra_masked(read_extra_masked(args.ilc, args.macwin, args.ilc_commit, args.macwin_commit),
                                    args.out, splits, np.concatenate(held))
        print("ilc/macwin left out: " + ", ".join(f"{k} {v}" for k, v in left.items()))
    for split, items in splits.items():
        (args.out / f"{split}.json").write_text(json.dumps(items, separators=(",", ":")) + "\n")
        by = {}
        for it in items:
            s = by.setdefault(it["source"], [0, 0])
            s[0] += 1
            s[1] += len(it["faces"])
        print(f"{split}: " + ", ".join(f"{k} {v[0]} images / {v[1]} faces" for k, v in sorted(by.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
