"""FER-2013 loading and preprocessing, identical to what MoodLens does at inference.

Two forms are read, chosen by the path:

* a directory of image folders, ``<root>/<emotion>/*.jpg`` (the widely used image-folder form);
* the original ``fer2013.csv`` (columns ``emotion,pixels,Usage``; 2,304 space-separated pixels per row).

Every face is turned into a 48x48 uint8 gray image: gray (OpenCV's BGR2GRAY weights), per-face histogram
equalisation exactly as OpenCV's ``equalizeHist``, then a resize to 48x48 when the source has another size
(``PREPROCESSING`` in ``moodlens_train``). The whole set is held in memory as one uint8 array, decoded once;
scaling to float happens per batch (``scale_images``).
"""

from __future__ import annotations

import csv
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from . import INPUT_SIZE, LABELS, SCALINGS

#: FER-2013 ``Usage`` values of the original CSV.
USAGES = ("Training", "PublicTest", "PrivateTest")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".pgm")

FER_PIXELS = INPUT_SIZE * INPUT_SIZE


class DatasetError(ValueError):
    """A data set that cannot be used: the message names the file (and line), what was expected and what arrived."""


@dataclass
class FaceSet:
    """Faces as preprocessed uint8 images (N, 48, 48) and int64 labels (N,), plus where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str
    files: Optional[list] = None  # per face: the image file (folder form) or "line <n>" (CSV form)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(LABELS))

    def subset(self, indices: np.ndarray) -> "FaceSet":
        files = [self.files[i] for i in indices] if self.files is not None else None
        return FaceSet(self.images[indices], self.labels[indices], self.source, files)


# --------------------------------------------------------------------------------------------------------------
# Preprocessing


def equalize_hist(images: np.ndarray) -> np.ndarray:
    """Histogram equalisation of uint8 gray images, bit-exact with OpenCV's ``cv2.equalizeHist``.

    Accepts one image (H, W) or a batch (N, H, W); each image is equalised on its own histogram. OpenCV's
    algorithm: the first occupied level maps to 0, level j to round(cumsum(hist)[j] - hist[first]) * 255 /
    (total - hist[first]) computed in float32 and rounded half to even; a constant image stays as it is.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise TypeError(f"equalize_hist: expected uint8 images but received dtype {arr.dtype}")
    if arr.ndim == 2:
        return equalize_hist(arr[None])[0]
    if arr.ndim != 3:
        raise ValueError(f"equalize_hist: expected shape (H, W) or (N, H, W) but received {arr.shape}")
    out = np.empty_like(arr)
    chunk = 4096  # bounds the int64 index arrays at ~4096 * H * W * 8 bytes
    for start in range(0, arr.shape[0], chunk):
        out[start : start + chunk] = _equalize_chunk(arr[start : start + chunk])
    return out


def _equalize_chunk(arr: np.ndarray) -> np.ndarray:
    n = arr.shape[0]
    if n == 0:
        return arr.copy()
    flat = arr.reshape(n, -1)
    total = flat.shape[1]
    offsets = (np.arange(n, dtype=np.int64) * 256)[:, None]
    hist = np.bincount((flat + offsets).ravel(), minlength=n * 256).reshape(n, 256)
    first = np.argmax(hist > 0, axis=1)
    first_count = hist[np.arange(n), first]
    cum = np.cumsum(hist, axis=1) - first_count[:, None]  # sum over levels first+1..j (levels < first: unused)
    denom = np.maximum(total - first_count, 1).astype(np.float32)
    scale = np.float32(255.0) / denom
    lut = np.rint(cum.astype(np.float32) * scale[:, None])
    lut = np.clip(lut, 0, 255).astype(np.uint8)
    constant = first_count == total
    if constant.any():  # OpenCV: dst.setTo(first level)
        lut[constant] = first[constant].astype(np.uint8)[:, None]
    return np.take_along_axis(lut, flat.astype(np.intp), axis=1).reshape(arr.shape)


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """RGB(A) uint8 (H, W, C) to gray as OpenCV's COLOR_RGB2GRAY rounds it (15-bit fixed-point weights)."""
    if pixels.ndim == 2:
        return pixels
    r = pixels[..., 0].astype(np.uint32)
    g = pixels[..., 1].astype(np.uint32)
    b = pixels[..., 2].astype(np.uint32)
    return ((b * 3735 + g * 19235 + r * 9798 + 16384) >> 15).astype(np.uint8)


def preprocess_face(gray: np.ndarray) -> np.ndarray:
    """One gray uint8 face of any size to the model's 48x48 uint8 input: equalize_hist, then resize to 48x48."""
    eq = equalize_hist(gray)
    if eq.shape == (INPUT_SIZE, INPUT_SIZE):
        return eq
    from PIL import Image

    return np.asarray(Image.fromarray(eq).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR), dtype=np.uint8)


def scale_images(images, scaling: str):
    """uint8 faces (numpy array or torch tensor) to float32: v1 -> [0, 1], v2 -> [-1, 1]."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling: expected one of {', '.join(SCALINGS)} but received {scaling!r}")
    x = images.astype(np.float32) if isinstance(images, np.ndarray) else images.float()
    return rescale_unit(x / 255.0, scaling)


def rescale_unit(x01, scaling: str):
    """Faces already in [0, 1] (after augmentation, say) to the model's scaling: v1 unchanged, v2 -> [-1, 1]."""
    return (x01 - 0.5) * 2.0 if scaling == "v2" else x01


# --------------------------------------------------------------------------------------------------------------
# Loading


def load_faces(path, usage: Optional[str] = None, threads: Optional[int] = None, limit: Optional[int] = None,
               seed: int = 0) -> FaceSet:
    """Loads a data set from an image-folder root or a ``fer2013.csv`` (by what ``path`` is).

    ``usage`` selects CSV rows (Training, PublicTest, PrivateTest); it is ignored for folders. ``limit`` keeps
    that many faces, stratified by class and drawn with ``seed`` (only those images are decoded).
    """
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"data set not found: {p} (expected a folder <root>/<emotion>/*.jpg or a fer2013.csv)")
    if p.is_dir():
        return load_folder(p, threads=threads, limit=limit, seed=seed)
    if p.suffix.lower() == ".csv":
        faces = load_csv(p, usage=usage)
        return faces.subset(pick_evenly(faces.labels, limit, seed)) if limit else faces
    raise DatasetError(f"{p}: expected a folder <root>/<emotion>/*.jpg or a .csv file but received a {p.suffix or 'file'}")


def load_folder(root, threads: Optional[int] = None, limit: Optional[int] = None, seed: int = 0) -> FaceSet:
    """Loads ``<root>/<emotion>/*.jpg``; emotion folder names are the FER-2013 labels (see ``LABELS``)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    unknown = [d.name for d in subdirs if d.name not in LABELS]
    if unknown:
        hint = ""
        if any(name in ("train", "val", "test") for name in unknown):
            hint = f" (did you mean {root / unknown[0]}?)"
        raise DatasetError(
            f"{root}: unknown class folder {unknown[0]!r}{hint}; expected only folders named "
            f"{', '.join(LABELS)}"
        )
    files: list = []
    labels: list = []
    for label, name in enumerate(LABELS):
        folder = root / name
        if not folder.is_dir():
            continue
        for entry in sorted(os.listdir(folder)):
            if entry.lower().endswith(IMAGE_SUFFIXES) and not entry.startswith("."):
                files.append(str(folder / entry))
                labels.append(label)
    if not files:
        raise DatasetError(
            f"{root}: empty data set: no images ({', '.join(IMAGE_SUFFIXES)}) in folders named {', '.join(LABELS)}"
        )
    if limit:
        keep = pick_evenly(np.asarray(labels, dtype=np.int64), limit, seed)
        files = [files[i] for i in keep]
        labels = [labels[i] for i in keep]
    images = np.empty((len(files), INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    workers = threads or min(8, os.cpu_count() or 1)

    def decode(i: int) -> None:
        images[i] = _read_face(files[i])

    if workers > 1 and len(files) > 256:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(decode, range(len(files)), chunksize=256))
    else:
        for i in range(len(files)):
            decode(i)
    return FaceSet(images, np.asarray(labels, dtype=np.int64), str(root), files)


def _read_face(file: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(file) as im:
            if im.mode in ("L", "I;16", "I", "F", "1"):
                gray = np.asarray(im.convert("L"), dtype=np.uint8)
            else:
                gray = to_gray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    except Exception as error:  # PIL raises several types; name the file
        raise DatasetError(f"{file}: cannot read image ({error})") from error
    return preprocess_face(gray)


def load_csv(path, usage: Optional[str] = None) -> FaceSet:
    """Loads the original ``fer2013.csv``, keeping rows whose ``Usage`` is ``usage`` (all rows when None).

    Every row is checked: a malformed one raises ``DatasetError`` naming the line and what is wrong.
    """
    path = Path(path)
    if usage is not None and usage not in USAGES:
        raise DatasetError(f"usage: expected one of {', '.join(USAGES)} but received {usage!r}")
    images: list = []
    labels: list = []
    lines: list = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise DatasetError(f"{path}: empty file (expected the header emotion,pixels,Usage)") from None
        columns = [h.strip().lower() for h in header]
        if "emotion" not in columns or "pixels" not in columns:
            raise DatasetError(
                f"{path} line 1: expected a header with columns emotion,pixels,Usage but received {','.join(header)!r}"
            )
        i_emotion, i_pixels = columns.index("emotion"), columns.index("pixels")
        i_usage = columns.index("usage") if "usage" in columns else None
        if usage is not None and i_usage is None:
            raise DatasetError(f"{path}: no Usage column, so rows cannot be selected by usage {usage!r}")
        width = len(header)
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            # Every row is checked, selected by usage or not: a malformed file is reported wherever it breaks.
            if len(row) != width:
                raise DatasetError(f"{path} line {line}: expected {width} fields ({','.join(header)}) but found {len(row)}")
            row_usage = None
            if i_usage is not None:
                row_usage = row[i_usage].strip()
                if row_usage not in USAGES:
                    raise DatasetError(
                        f"{path} line {line}: Usage must be one of {', '.join(USAGES)} but is {row_usage!r}"
                    )
            text = row[i_emotion].strip()
            if not text.isdigit() or int(text) >= len(LABELS):
                raise DatasetError(f"{path} line {line}: emotion must be an integer 0-{len(LABELS) - 1} but is {text!r}")
            values = _parse_pixels(row[i_pixels], path, line)
            if usage is not None and row_usage != usage:
                continue
            images.append(values.reshape(INPUT_SIZE, INPUT_SIZE))
            labels.append(int(text))
            lines.append(f"line {line}")
    if not images:
        what = f" with Usage {usage}" if usage else ""
        raise DatasetError(f"{path}: empty data set: no rows{what}")
    stacked = equalize_hist(np.stack(images))
    return FaceSet(stacked, np.asarray(labels, dtype=np.int64), f"{path}" + (f" ({usage})" if usage else ""), lines)


def _parse_pixels(text: str, path, line: int) -> np.ndarray:
    """2,304 space-separated integers 0-255 as uint8; a DatasetError naming the line and the problem otherwise."""
    values = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns (future: raises) when the text does not parse to its end
        try:
            values = np.fromstring(text, dtype=np.int64, sep=" ")  # fast path: ~30 us per row
        except (DeprecationWarning, ValueError):
            values = None
    if values is None or values.shape[0] != FER_PIXELS:
        tokens = text.split()
        bad = next((t for t in tokens if not t.isdigit()), None)
        if bad is not None:
            raise DatasetError(f"{path} line {line}: pixel values must be integers 0-255 but found {bad!r}")
        if len(tokens) != FER_PIXELS:
            raise DatasetError(f"{path} line {line}: expected {FER_PIXELS} pixel values (48x48) but found {len(tokens)}")
        values = np.array(tokens, dtype=np.int64)
    if values.min() < 0 or values.max() > 255:
        bad_value = int(values[(values < 0) | (values > 255)][0])
        raise DatasetError(f"{path} line {line}: pixel values must be integers 0-255 but found {bad_value}")
    return values.astype(np.uint8)


def default_usage(path, role: str) -> Optional[str]:
    """The CSV Usage a role reads by default: Training for training data, PublicTest for validation."""
    if Path(path).suffix.lower() != ".csv":
        return None
    return {"train": "Training", "val": "PublicTest"}[role]


def describe(faces: FaceSet) -> str:
    counts = faces.class_counts()
    parts = ", ".join(f"{name} {int(c)}" for name, c in zip(LABELS, counts))
    return f"{len(faces)} faces from {faces.source} ({parts})"


def pick_evenly(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` indices drawn without replacement with a seeded RNG, stratified by class (for ``--limit``)."""
    if count >= labels.shape[0]:
        return np.arange(labels.shape[0])
    rng = np.random.default_rng(seed)
    order = rng.permutation(labels.shape[0])
    # Stratify: take each class's share of the sample from the shuffled order.
    chosen: list = []
    for c in range(len(LABELS)):
        members = order[labels[order] == c]
        share = int(round(count * members.shape[0] / labels.shape[0]))
        chosen.extend(members[:share].tolist())
    chosen = chosen[:count]
    if len(chosen) < count:
        rest = np.setdiff1d(order, np.asarray(chosen, dtype=np.int64), assume_unique=True)
        chosen.extend(rest[: count - len(chosen)].tolist())
    return np.sort(np.asarray(chosen, dtype=np.int64))
