"""Detector data: the prepared manifests (training/data_sources/prepare_detector_data.py), decoded once into
memory, and the training samples built from them.

A training sample is a square crop (--size, default 320) of either
- a real photo, rescaled so that one of its faces gets a random size (log-uniform, 10 px to 90% of the crop)
  and shifted so that face lies inside the crop (`real_sample`), or
- a collage: 1-6 face300w crops (real faces in their real surroundings) scaled to random face sizes and blended
  with a feathered edge into a random face-free background (`collage_sample`): many faces, many scales,
  and faces at places and sizes the few real multi-face photos never show.
Then photometric augmentation (`photometric`): brightness/contrast/saturation, 25% grayscale (MoodLens runs
on gray images as often as on colour ones), 20% Gaussian blur, 30% JPEG re-encoding at quality 30-90, and a
50% mirror image (keypoints swapped left/right).

Faces cut by the crop to less than half their area, and faces under MIN_FACE px, become "ignore" boxes: no
target, but the cells inside them are not counted as background either. A manifest can mark a face
`"ignore": true` (a face the labels leave out, found by another means): it is an ignore box in every crop.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np

MIN_FACE = 8.0
FLIP_KPS = [1, 0, 2, 4, 3]


class Item:
    """A decoded photo: its labelled faces (boxes, kps) and the regions to ignore (`ignore`, (G, 4): faces the
    labels leave out; neither a target nor background in training; training photos only)."""
    __slots__ = ("image", "boxes", "kps", "source", "name", "ignore")

    def __init__(self, image: np.ndarray, boxes: np.ndarray, kps: np.ndarray, source: str, name: str,
                 ignore: Optional[np.ndarray] = None):
        self.image, self.boxes, self.kps, self.source, self.name = image, boxes, kps, source, name
        self.ignore = np.zeros((0, 4), np.float32) if ignore is None else ignore


def load_split(root: Path, split: str, limit: Optional[int] = None, max_side: int = 1280) -> List[Item]:
    """Decodes a split (RGB uint8). kps are NaN where a face has no keypoints."""
    root = Path(root)
    manifest = root / f"{split}.json"
    if not manifest.is_file():
        raise SystemExit(f"{manifest}: not found; run training/data_sources/prepare_detector_data.py first")
    items = json.loads(manifest.read_text())
    if limit:
        items = items[:limit]
    out = []
    for it in items:
        bgr = cv2.imread(str(root / it["image"]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"{root / it['image']}: not a readable image")
        faces = [f for f in it["faces"] if not f.get("ignore")]
        boxes = np.array([f["box"] for f in faces], dtype=np.float32).reshape(-1, 4)
        kps = np.array([f["kps"] if f["kps"] else [[np.nan, np.nan]] * 5 for f in faces],
                       dtype=np.float32).reshape(-1, 5, 2)
        ignore = np.array([f["box"] for f in it["faces"] if f.get("ignore")], dtype=np.float32).reshape(-1, 4)
        h, w = bgr.shape[:2]
        if max_side and max(h, w) > max_side:
            # large video frames: at most max_side (the detector sees photos at 416), boxes scaled alike
            s = max_side / max(h, w)
            bgr = cv2.resize(bgr, (max(int(round(w * s)), 1), max(int(round(h * s)), 1)), interpolation=cv2.INTER_AREA)
            boxes, kps, ignore = boxes * s, kps * s, ignore * s
        out.append(Item(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), boxes, kps, it["source"], it["image"], ignore))
    return out


def backgrounds() -> List[np.ndarray]:
    """Face-free photos for the collages: scikit-image's sample photos (public domain / CC0), if installed."""
    names = ["coffee.png", "rocket.jpg", "chelsea.png", "motorcycle_left.png", "hubble_deep_field.jpg",
             "brick.png", "grass.png", "gravel.png", "moon.png", "camera.png", "coins.png", "page.png", "text.png",
             "retina.jpg", "horse.png", "color.png"]
    out = []
    try:
        import skimage
        base = Path(skimage.__file__).parent / "data"
    except ImportError:
        return out
    for n in names:
        img = cv2.imread(str(base / n), cv2.IMREAD_COLOR)
        if img is not None and min(img.shape[:2]) >= 64:
            out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    return out


def _affine(image, boxes, kps, scale, tx, ty, size, rng, rotate_p: float = 0.0):
    m = np.array([[scale, 0, tx], [0, scale, ty]], dtype=np.float32)
    boxes = boxes * scale + np.array([tx, ty, tx, ty], np.float32)
    kps = kps * scale + np.array([tx, ty], np.float32)
    if rotate_p and rng.random() < rotate_p:
        # a tilted head: turn the crop about its centre; each box becomes the bounding box of its turned
        # inscribed ellipse (a face's outline), not of its turned corners, which would be too loose
        angle = float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
        r = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0).astype(np.float32)
        m = r @ np.vstack([m, [0, 0, 1]]).astype(np.float32)
        c, si = abs(np.cos(np.radians(angle))), abs(np.sin(np.radians(angle)))
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        centre = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
        centre = centre @ r[:, :2].T + r[:, 2]
        hw = np.sqrt((w * c) ** 2 + (h * si) ** 2) / 2
        hh = np.sqrt((w * si) ** 2 + (h * c) ** 2) / 2
        boxes = np.stack([centre[:, 0] - hw, centre[:, 1] - hh, centre[:, 0] + hw, centre[:, 1] + hh], 1).astype(np.float32)
        kps = (kps @ r[:, :2].T + r[:, 2]).astype(np.float32)
    border = cv2.BORDER_REPLICATE if rng.random() < 0.5 else cv2.BORDER_CONSTANT
    value = tuple(int(v) for v in rng.integers(0, 256, 3))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.warpAffine(image, m, (size, size), flags=interp, borderMode=border, borderValue=value)
    return out, boxes, kps


MAX_UPSCALE = 4.0
# tilt of the rotation augmentation (degrees) and the share of real photos it is applied to
MAX_ROTATION = 20.0
ROTATE_P = 0.3


def random_face_size(rng, size: int) -> float:
    """Log-uniform between 10 px and 90% of the crop."""
    return float(np.exp(rng.uniform(np.log(10.0), np.log(0.9 * size))))


def real_sample(item: Item, size: int, rng):
    """A crop of a real photo: (image, boxes, kps, ignored), `ignored` flagging the boxes that are the item's
    ignore regions (they follow the labelled faces, after them)."""
    h, w = item.image.shape[:2]
    n, g = len(item.boxes), len(item.ignore)
    all_boxes = np.concatenate([item.boxes, item.ignore]) if g else item.boxes
    all_kps = np.concatenate([item.kps, np.full((g, 5, 2), np.nan, np.float32)]) if g else item.kps
    ignored = np.arange(n + g) >= n
    if not n:
        # a photo without faces (a negative): a random part of it at a random zoom
        scale = size / max(h, w) * float(np.exp(rng.uniform(np.log(0.8), np.log(3.0))))
        tx = -rng.uniform(0, max(w * scale - size, 0))
        ty = -rng.uniform(0, max(h * scale - size, 0))
        return (*_affine(item.image, all_boxes, all_kps, scale, tx, ty, size, rng), ignored)
    sides = np.sqrt(np.maximum(item.boxes[:, 2] - item.boxes[:, 0], 1) * np.maximum(item.boxes[:, 3] - item.boxes[:, 1], 1))
    # centre on a face big enough to learn from (crowd photos have many faces of a few pixels)
    big = np.where(sides >= 16)[0]
    j = int(big[rng.integers(len(big))]) if len(big) else int(rng.integers(len(item.boxes)))
    b = item.boxes[j]
    face = float(sides[j])
    # the photo keeps at least 60% of the crop's side (smaller faces come from the collages): a photo shrunk to
    # a stamp in a sea of padding teaches little; and it is enlarged at most MAX_UPSCALE times (blur)
    low = max(10.0, face * 0.6 * size / max(h, w))
    high = max(low, min(0.9 * size, face * MAX_UPSCALE))
    scale = float(np.exp(rng.uniform(np.log(low), np.log(high)))) / face
    cx, cy = (b[0] + b[2]) / 2 * scale, (b[1] + b[3]) / 2 * scale
    tx = rng.uniform(0.05, 0.95) * size - cx
    ty = rng.uniform(0.05, 0.95) * size - cy
    return (*_affine(item.image, all_boxes, all_kps, scale, tx, ty, size, rng, ROTATE_P), ignored)


def collage_sample(faces: List[Item], bgs: List[np.ndarray], size: int, rng):
    if bgs and rng.random() < 0.8:
        bg = bgs[int(rng.integers(len(bgs)))]
        s = size / min(bg.shape[:2]) * rng.uniform(1.0, 2.5)
        canvas, _, _ = _affine(bg, np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), s,
                               -rng.uniform(0, max(bg.shape[1] * s - size, 0)),
                               -rng.uniform(0, max(bg.shape[0] * s - size, 0)), size, rng)
        canvas = canvas.astype(np.float32)
    else:
        canvas = np.full((size, size, 3), rng.integers(0, 256, 3), np.float32)
        canvas += rng.normal(0, rng.uniform(0, 30), canvas.shape).astype(np.float32)
    boxes, kps = [], []
    for _ in range(int(rng.integers(1, 7))):
        it = faces[int(rng.integers(len(faces)))]
        b = it.boxes[0]
        face = float(np.sqrt((b[2] - b[0]) * (b[3] - b[1])))
        target = float(np.exp(rng.uniform(np.log(10.0), np.log(0.6 * size))))
        scale = target / face
        cx, cy = (b[0] + b[2]) / 2 * scale, (b[1] + b[3]) / 2 * scale
        tx, ty = rng.uniform(0, size) - cx, rng.uniform(0, size) - cy
        m = np.array([[scale, 0, tx], [0, scale, ty]], dtype=np.float32)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        patch = cv2.warpAffine(it.image, m, (size, size), flags=interp, borderMode=cv2.BORDER_CONSTANT).astype(np.float32)
        # a feathered ellipse around the face, 1.3-2x its box: the face keeps some of its own surroundings
        h, w = it.image.shape[:2]
        mask = np.zeros((h, w), np.float32)
        k = rng.uniform(1.3, 2.0)
        bw, bh = (b[2] - b[0]) * k / 2, (b[3] - b[1]) * k / 2
        cv2.ellipse(mask, (int((b[0] + b[2]) / 2), int((b[1] + b[3]) / 2)), (int(bw), int(bh)), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(bw, bh) * 0.15)
        mask = cv2.warpAffine(mask, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
        canvas = canvas * (1 - mask) + patch * mask
        nb = b * scale + np.array([tx, ty, tx, ty], np.float32)
        # a later face that covers this one's centre hides it: drop boxes mostly under the new face
        keep = [i for i, ob in enumerate(boxes) if _inter(ob, nb) < 0.5 * _area(ob)]
        boxes = [boxes[i] for i in keep] + [nb]
        kps = [kps[i] for i in keep] + [it.kps[0] * scale + np.array([tx, ty], np.float32)]
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    return image, np.array(boxes, np.float32).reshape(-1, 4), np.array(kps, np.float32).reshape(-1, 5, 2)


def _area(b):
    return max(b[2] - b[0], 0) * max(b[3] - b[1], 0)


def _inter(a, b):
    return max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)


def photometric(image: np.ndarray, rng) -> np.ndarray:
    img = image.astype(np.float32)
    img = img * rng.uniform(0.6, 1.4) + rng.uniform(-40, 40)  # contrast, brightness
    gray = img.mean(2, keepdims=True)
    if rng.random() < 0.25:
        img = np.repeat(gray, 3, 2)
    else:
        img = gray + (img - gray) * rng.uniform(0.5, 1.5)  # saturation
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.8))
    if rng.random() < 0.3:
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 91))])
        img = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    return img


def finish(image, boxes, kps, size: int, rng, ignored: Optional[np.ndarray] = None):
    """Mirror (50%), clip to the crop, split the faces into targets and ignore boxes (`ignored` flags boxes that
    are ignore regions whatever their size)."""
    if rng.random() < 0.5:
        image = image[:, ::-1]
        boxes = np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], 1)
        kps = kps[:, FLIP_KPS].copy()
        kps[..., 0] = size - kps[..., 0]
    clipped = np.clip(boxes, 0, size)
    area = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    carea = np.maximum(clipped[:, 2] - clipped[:, 0], 0) * np.maximum(clipped[:, 3] - clipped[:, 1], 0)
    side = np.sqrt(area)
    good = (carea >= 0.5 * np.maximum(area, 1e-6)) & (side >= MIN_FACE)
    if ignored is not None:
        good &= ~ignored
    ignore = clipped[(~good) & (carea > 0)]
    kps = kps[good].copy()
    outside = (kps[..., 0] < 0) | (kps[..., 0] >= size) | (kps[..., 1] < 0) | (kps[..., 1] >= size)
    kps[outside] = np.nan
    return np.ascontiguousarray(image), clipped[good], kps, ignore


def make_sample(train: List[Item], faces300w: List[Item], bgs, size: int, rng, collage_p: float = 0.4):
    ignored = None
    if faces300w and rng.random() < collage_p:
        image, boxes, kps = collage_sample(faces300w, bgs, size, rng)
    else:
        image, boxes, kps, ignored = real_sample(train[int(rng.integers(len(train)))], size, rng)
    image = photometric(image, rng)
    return finish(image, boxes, kps, size, rng, ignored)


def make_batch(train, faces300w, bgs, size: int, batch: int, rng, collage_p: float = 0.4):
    images, targets = [], []
    for _ in range(batch):
        image, boxes, kps, ignore = make_sample(train, faces300w, bgs, size, rng, collage_p)
        images.append(image)
        targets.append((boxes, kps, ignore))
    x = np.stack(images).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    return x, targets
