"""Preprocessing and loading: equalizeHist bit-exact with OpenCV on real faces, CSV and folder loaders."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from moodlens_train import LABELS
from moodlens_train.data import (
    DatasetError,
    equalize_hist,
    load_csv,
    load_faces,
    load_folder,
    pick_evenly,
    scale_images,
    to_gray,
)


def raw_faces(split_dir: Path, per_class: int):
    """The first ``per_class`` JPEGs of every class folder, decoded as they are (no preprocessing)."""
    images, labels, files = [], [], []
    for label, name in enumerate(LABELS):
        for f in sorted((split_dir / name).iterdir())[:per_class]:
            images.append(np.asarray(Image.open(f)))
            labels.append(label)
            files.append(f)
    return np.stack(images), np.asarray(labels), files


# ----------------------------------------------------------------------------------------------------------------
# equalize_hist


def test_equalize_hist_matches_opencv_on_real_faces(fer_dir):
    cv2 = pytest.importorskip("cv2")
    for split, per_class in (("val", 60), ("train", 20)):
        raw, _, _ = raw_faces(fer_dir / split, per_class)
        expected = np.stack([cv2.equalizeHist(face) for face in raw])
        got = equalize_hist(raw)
        assert got.dtype == np.uint8 and got.shape == raw.shape
        mismatches = int((got != expected).sum())
        assert mismatches == 0, f"{split}: {mismatches} pixels differ from cv2.equalizeHist"
        # One face at a time gives the same as the batch.
        np.testing.assert_array_equal(equalize_hist(raw[0]), expected[0])
        # The published faces are already equalised: a second equalisation moves pixels by a few levels only.
        assert np.abs(raw.astype(int) - expected).mean() < 5


def test_equalize_hist_matches_opencv_on_edge_cases():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    cases = [
        np.full((48, 48), 77, np.uint8),  # constant: OpenCV keeps it
        np.zeros((48, 48), np.uint8),
        np.where(rng.random((48, 48)) < 0.5, 10, 200).astype(np.uint8),  # two levels
        rng.integers(0, 256, (48, 48)).astype(np.uint8),
        rng.integers(100, 110, (31, 57)).astype(np.uint8),  # narrow range, odd size
        rng.integers(0, 256, (1, 1)).astype(np.uint8),
        (np.arange(48 * 48) % 256).reshape(48, 48).astype(np.uint8),
    ]
    for i, image in enumerate(cases):
        np.testing.assert_array_equal(equalize_hist(image), cv2.equalizeHist(image), err_msg=f"case {i}")


def test_equalize_hist_rejects_wrong_input():
    with pytest.raises(TypeError, match="expected uint8"):
        equalize_hist(np.zeros((48, 48), np.float32))
    with pytest.raises(ValueError, match=r"expected shape"):
        equalize_hist(np.zeros((2, 48, 48, 1), np.uint8))


def test_to_gray_rounds_like_opencv():
    cv2 = pytest.importorskip("cv2")
    rgb = np.random.default_rng(5).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    np.testing.assert_array_equal(to_gray(rgb), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def test_scaling():
    faces = np.array([[[0, 255], [51, 102]]], np.uint8)
    v1 = scale_images(faces, "v1")
    v2 = scale_images(faces, "v2")
    assert v1.dtype == np.float32 and v1.min() == 0.0 and v1.max() == 1.0
    assert v2.min() == -1.0 and v2.max() == 1.0
    with pytest.raises(ValueError, match="scaling: expected one of v1, v2"):
        scale_images(faces, "v3")


# ----------------------------------------------------------------------------------------------------------------
# folder loader


def test_folder_loader_reads_real_faces(fer_dir):
    faces = load_faces(fer_dir / "val")
    assert len(faces) == 3589  # all of PublicTest
    np.testing.assert_array_equal(faces.class_counts(), [467, 56, 496, 895, 653, 415, 607])
    assert faces.images.shape == (3589, 48, 48) and faces.images.dtype == np.uint8
    # Labels follow the folder names, and every face is equalised exactly as equalize_hist does.
    for i in (0, 1000, 3588):
        f = Path(faces.files[i])
        assert LABELS[faces.labels[i]] == f.parent.name
        np.testing.assert_array_equal(faces.images[i], equalize_hist(np.asarray(Image.open(f))))


def test_folder_loader_limit_is_stratified_and_seeded(fer_dir):
    a = load_folder(fer_dir / "train", limit=700, seed=1)
    b = load_folder(fer_dir / "train", limit=700, seed=1)
    assert len(a) == 700 and a.files == b.files
    share = a.class_counts() / 700
    full = np.array([3995, 436, 4097, 7215, 4830, 3171, 4965]) / 28709
    assert np.abs(share - full).max() < 0.01


def test_folder_loader_errors(tmp_path, fer_dir):
    src = sorted((fer_dir / "val" / "happy").iterdir())[0]
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "a.jpg").write_bytes(src.read_bytes())
    (tmp_path / "joy").mkdir()
    with pytest.raises(DatasetError, match=r"unknown class folder 'joy'.*angry, disgust, fear, happy"):
        load_folder(tmp_path)

    nested = tmp_path / "nested"
    (nested / "train").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"unknown class folder 'train' \(did you mean .*train\?\)"):
        load_faces(nested)

    empty = tmp_path / "empty"
    (empty / "sad").mkdir(parents=True)
    with pytest.raises(DatasetError, match="empty data set"):
        load_faces(empty)

    broken = tmp_path / "broken"
    (broken / "fear").mkdir(parents=True)
    (broken / "fear" / "x.jpg").write_bytes(b"<html>not a jpeg</html>")
    with pytest.raises(DatasetError, match=r"x\.jpg: cannot read image"):
        load_faces(broken)

    with pytest.raises(DatasetError, match="data set not found"):
        load_faces(tmp_path / "missing")


def test_folder_loader_converts_color_and_size(tmp_path, fer_dir):
    face = np.asarray(Image.open(sorted((fer_dir / "val" / "angry").iterdir())[0]))
    (tmp_path / "angry").mkdir()
    Image.fromarray(np.stack([face] * 3, -1)).save(tmp_path / "angry" / "rgb.png")  # color, lossless
    Image.fromarray(face).resize((96, 96)).save(tmp_path / "angry" / "big.png")
    faces = load_folder(tmp_path)
    assert faces.images.shape == (2, 48, 48)
    rgb = faces.images[faces.files.index(str(tmp_path / "angry" / "rgb.png"))]
    np.testing.assert_array_equal(rgb, equalize_hist(face))  # gray R=G=B gives the face back


# ----------------------------------------------------------------------------------------------------------------
# CSV loader


def write_fer_csv(path: Path, fer_dir: Path, per_class: int = 2):
    """A tiny fer2013.csv from real faces: per class, ``per_class`` Training rows then one PublicTest row."""
    raw, labels, _ = raw_faces(fer_dir / "val", per_class + 1)
    rows, usages = [], []
    for i, (face, label) in enumerate(zip(raw, labels)):
        usage = "PublicTest" if i % (per_class + 1) == per_class else "Training"
        rows.append([str(label), " ".join(str(v) for v in face.ravel()), usage])
        usages.append(usage)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerows(rows)
    return raw, labels, np.asarray(usages)


def test_csv_loader_reads_rows_by_usage(tmp_path, fer_dir):
    path = tmp_path / "fer2013.csv"
    raw, labels, usages = write_fer_csv(path, fer_dir)
    train = load_csv(path, usage="Training")
    keep = usages == "Training"
    assert len(train) == int(keep.sum()) == 14
    np.testing.assert_array_equal(train.labels, labels[keep])
    np.testing.assert_array_equal(train.images, equalize_hist(raw[keep]))
    public = load_faces(path, usage="PublicTest")  # chosen by the .csv suffix
    assert len(public) == 7 and public.files[0] == "line 4"
    assert len(load_csv(path)) == 21  # no usage: every row


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: [r[0], " ".join(r[1].split()[:-1]), r[2]], r"line 3: expected 2304 pixel values \(48x48\) but found 2303"),
        (lambda r: ["9", r[1], r[2]], r"line 3: emotion must be an integer 0-6 but is '9'"),
        (lambda r: ["", r[1], r[2]], r"line 3: emotion must be an integer 0-6 but is ''"),
        (lambda r: [r[0], r[1].replace(r[1].split()[0], "x", 1), r[2]], r"line 3: pixel values must be integers 0-255 but found 'x'"),
        (lambda r: [r[0], "256 " + " ".join(r[1].split()[1:]), r[2]], r"line 3: pixel values must be integers 0-255 but found 256"),
        (lambda r: [r[0], r[1], "Validation"], r"line 3: Usage must be one of Training, PublicTest, PrivateTest but is 'Validation'"),
        (lambda r: [r[0], r[1]], r"line 3: expected 3 fields \(emotion,pixels,Usage\) but found 2"),
    ],
)
def test_csv_malformed_row_names_line_and_problem(tmp_path, fer_dir, mutate, message):
    path = tmp_path / "fer2013.csv"
    write_fer_csv(path, fer_dir, per_class=1)
    lines = path.read_text().splitlines()
    row = next(csv.reader([lines[2]]))
    out = []
    csv.writer(_Lines(out), lineterminator="").writerow(mutate(row))
    lines[2] = out[0]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=message) as info:
        load_csv(path, usage="Training")
    assert str(path) in str(info.value)


class _Lines:
    def __init__(self, out):
        self.out = out

    def write(self, text):
        self.out.append(text)


def test_csv_header_and_empty_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,image\n0,1 2 3\n")
    with pytest.raises(DatasetError, match=r"line 1: expected a header with columns emotion,pixels,Usage"):
        load_csv(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DatasetError, match="empty file"):
        load_csv(empty)
    only_header = tmp_path / "header.csv"
    only_header.write_text("emotion,pixels,Usage\n")
    with pytest.raises(DatasetError, match="empty data set: no rows with Usage PrivateTest"):
        load_faces(only_header, usage="PrivateTest")
    with pytest.raises(DatasetError, match="usage: expected one of Training, PublicTest, PrivateTest but received 'Test'"):
        load_csv(only_header, usage="Test")


def test_pick_evenly_is_a_subset():
    labels = np.repeat(np.arange(7), [10, 2, 10, 30, 10, 8, 10])
    idx = pick_evenly(labels, 20, seed=0)
    assert len(idx) == 20 and len(set(idx.tolist())) == 20
    assert (np.diff(idx) > 0).all()
    np.testing.assert_array_equal(pick_evenly(labels, 500, seed=0), np.arange(len(labels)))
