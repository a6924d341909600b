"""Builds the landmark student's labelled sets: each face with the Haar box our detector gives it (the student's
input crop comes from that box, as at run time) and 68 points, human (face300w) or from the dlib teacher.

    python -m moodlens_train.landmark_labels --face300w /data/face300w --fer /data/fer2013/train --out labels/train.npz

OpenCV's CascadeClassifier gives exactly our engine's boxes (the parity tests prove it), so it stands in for the
TypeScript detector here. FER-2013 faces are 48x48 frames with little margin: they are padded (edge replicate)
and upscaled x4 before detection and labelling, and everything is mapped back to the 48x48 frame.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import LABELS as CLASS_NAMES

CASCADE = '/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml'
FER_UPSCALE = 4
FER_PAD = 16  # pixels of the 48x48 frame added on every side before upscaling


def haar_detector():
    import cv2
    det = cv2.CascadeClassifier(CASCADE)
    if det.empty():
        raise SystemExit(f'cannot load {CASCADE}: apt-get install -y opencv-data python3-opencv')
    return det


def largest_box(det, gray: np.ndarray):
    boxes = det.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3)
    if len(boxes) == 0:
        return None
    return max((tuple(int(v) for v in b) for b in boxes), key=lambda b: b[2] * b[3])


def label_face300w(root: Path, det, teacher=None):
    """Human points and Haar boxes for the face300w crops (and the teacher's points when given)."""
    from PIL import Image
    meta = json.loads((root / 'landmarks.json').read_text())
    out = {'image': [], 'name': [], 'box': [], 'points': [], 'teacher': [], 'teacher_source': []}
    for item in meta['items']:
        gray = np.asarray(Image.open(root / item['image']).convert('L'))
        box = largest_box(det, gray)
        out['name'].append(Path(item['image']).stem)
        out['image'].append(gray)
        out['box'].append(box if box is not None else (-1, -1, -1, -1))
        out['points'].append(np.asarray(item['points'], np.float32))
        if teacher is not None:
            lab = teacher.label(gray)  # dlib's own detector box: the teacher at its best
            out['teacher'].append(lab.points if lab.points is not None else np.full((68, 2), np.nan, np.float32))
            out['teacher_source'].append(lab.source)
    return out


def fer_files(root: Path):
    for label, name in enumerate(CLASS_NAMES):
        folder = root / name
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in ('.jpg', '.jpeg', '.png'):
                yield f, label


def label_fer(root: Path, det, teacher, limit=None, progress=True):
    """Haar box + teacher points for FER-2013 faces, in 48x48 frame coordinates. Faces the Haar cascade misses
    are skipped (at run time the student only ever sees Haar boxes)."""
    import cv2
    from PIL import Image
    files = list(fer_files(root))
    if limit:
        files = files[:limit]
    out = {'image': [], 'name': [], 'box': [], 'points': [], 'emotion': [], 'teacher_source': []}
    missed = 0
    t0 = time.time()
    for i, (f, label) in enumerate(files):
        frame = np.asarray(Image.open(f).convert('L'))
        if frame.shape != (48, 48):
            frame = np.asarray(Image.fromarray(frame).resize((48, 48), Image.BILINEAR))
        padded = cv2.copyMakeBorder(frame, FER_PAD, FER_PAD, FER_PAD, FER_PAD, cv2.BORDER_REPLICATE)
        big = cv2.resize(padded, None, fx=FER_UPSCALE, fy=FER_UPSCALE, interpolation=cv2.INTER_CUBIC)
        box = largest_box(det, big)
        if box is None:
            missed += 1
            continue
        lab = teacher.label(big, box=box, detect=True)
        if lab.points is None:
            missed += 1
            continue
        # big pixel centre u maps to padded (u + 0.5) / k - 0.5, then minus the pad.
        pts = (lab.points + 0.5) / FER_UPSCALE - 0.5 - FER_PAD
        bx = np.asarray(box, np.float64)
        fbox = (bx[0] / FER_UPSCALE - FER_PAD, bx[1] / FER_UPSCALE - FER_PAD, bx[2] / FER_UPSCALE, bx[3] / FER_UPSCALE)
        out['image'].append(frame)
        out['name'].append(f'{CLASS_NAMES[label]}/{f.name}')
        out['box'].append(fbox)
        out['points'].append(pts.astype(np.float32))
        out['emotion'].append(label)
        out['teacher_source'].append(lab.source)
        if progress and (i + 1) % 500 == 0:
            rate = (i + 1) / (time.time() - t0)
            print(f'  {i + 1}/{len(files)} faces, {missed} without a Haar box, {rate:.0f}/s', file=sys.stderr,
                  flush=True)
    return out, missed, len(files)


def save(path: Path, data: dict) -> None:
    arrays = {}
    for k, v in data.items():
        if not v:
            continue
        if k in ('name', 'teacher_source'):
            arrays[k] = np.asarray(v)
        elif k == 'image' and len({a.shape for a in v}) > 1:
            raise ValueError('images of different sizes in one set')
        else:
            arrays[k] = np.stack([np.asarray(a) for a in v]) if k in ('image', 'points', 'teacher') \
                else np.asarray(v, np.float32 if k == 'box' else np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--face300w', type=Path, help='face300w folder (landmarks.json + images/)')
    p.add_argument('--fer', type=Path, help='FER-2013 image folder (<root>/<emotion>/*.jpg)')
    p.add_argument('--limit', type=int, help='first N FER faces only')
    p.add_argument('--out', type=Path, required=True, help='.npz to write')
    args = p.parse_args(argv)
    from .teacher import DlibTeacher
    det = haar_detector()
    with DlibTeacher() as teacher:
        if args.face300w:
            data = label_face300w(args.face300w, det, teacher)
            found = sum(1 for b in data['box'] if b[2] > 0)
            print(f'face300w: {len(data["image"])} faces, Haar box on {found}', file=sys.stderr)
        else:
            data, missed, total = label_fer(args.fer, det, teacher, args.limit)
            print(f'fer: {total} faces, {len(data["image"])} labelled, {missed} skipped (no Haar box)',
                  file=sys.stderr)
    save(args.out, data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
