"""The landmark student's data path, teacher, training and export, on real face300w and FER-2013 faces."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from moodlens_train import landmark_data as ld
from moodlens_train.landmark_labels import haar_detector, label_face300w, save
from moodlens_train.landmark_model import LandmarkNet


@pytest.fixture(scope="module")
def face300w_npz(face300w_dir, tmp_path_factory):
    """Human labels and Haar boxes of the first 60 face300w crops, as landmark_labels writes them."""
    import json as _json
    meta = _json.loads((face300w_dir / "landmarks.json").read_text())
    small = tmp_path_factory.mktemp("f300") / "face300w"
    (small / "images").mkdir(parents=True)
    meta["items"] = meta["items"][:60]
    for item in meta["items"]:
        (small / item["image"]).write_bytes((face300w_dir / item["image"]).read_bytes())
    (small / "landmarks.json").write_text(_json.dumps(meta))
    data = label_face300w(small, haar_detector())
    path = small.parent / "face300w.npz"
    save(path, data)
    return path


def test_crop_square_rounds_like_javascript():
    # Math.round(37.5) is 38 in JavaScript; Python's round gives 38 too but round(36.5) gives 36: use floor(v+.5)
    assert ld.js_round(36.5) == 37 and ld.js_round(-0.5) == 0
    x0, y0, side = ld.crop_square((10, 20, 30, 30))  # 30 * 1.5 = 45; shifted y = 24.5
    assert side == 45 and x0 == int(np.floor(10 + (30 - 45) / 2)) and y0 == int(np.floor(24.5 + (30 - 45) / 2))


def test_haar_finds_most_face300w_faces(face300w_npz):
    data = np.load(face300w_npz)
    found = (data["box"][:, 2] > 0).mean()
    assert found > 0.9, found
    # The points sit inside the run-time crop of the box (the crop is made to hold the whole face).
    faces = ld.LandmarkSet(face300w_npz)
    units = np.stack([ld.to_crop_units(p, ld.crop_square(b)) for p, b in zip(faces.points, faces.boxes)])
    inside = ((units > 0) & (units < 1)).all(axis=2).mean()
    assert inside > 0.98, inside


def test_unaugmented_crop_is_the_run_time_crop(face300w_npz):
    faces = ld.LandmarkSet(face300w_npz)
    none = ld.Augment(rotation=0, rotate_p=0, scale=0, shift=0, flip=False, blur_p=0, lowres_p=0, noise_p=0)
    rng = np.random.default_rng(0)
    for i in range(5):
        crop, square = ld.run_time_crop(faces.images[i], faces.boxes[i])
        aug_crop, units = ld.augmented_crop(faces.images[i], faces.boxes[i], faces.points[i], none, rng)
        assert np.abs(crop.astype(int) - aug_crop).mean() < 2.0
        np.testing.assert_allclose(units, ld.to_crop_units(faces.points[i], square), atol=1e-5)
        np.testing.assert_allclose(ld.from_crop_units(units, square), faces.points[i], atol=1e-3)


def test_flip_mirrors_pixels_and_swaps_point_indices(face300w_npz):
    faces = ld.LandmarkSet(face300w_npz)
    flip = ld.Augment(rotation=0, rotate_p=0, scale=0, shift=0, flip=True, blur_p=0, lowres_p=0, noise_p=0)
    rng = np.random.default_rng(0)
    crop, square = ld.run_time_crop(faces.images[0], faces.boxes[0])
    plain = ld.to_crop_units(faces.points[0], square)
    flipped = None
    for _ in range(20):  # flips are random: draw until one happens
        c, u = ld.augmented_crop(faces.images[0], faces.boxes[0], faces.points[0], flip, rng)
        if np.abs(c.astype(int) - crop).mean() > 5:
            flipped = (c, u)
            break
    assert flipped is not None
    c, u = flipped
    assert np.abs(c[:, ::-1].astype(int) - crop).mean() < 2.0
    # The subject's right eye (36-41) of the flipped face is the mirrored left eye (42-47) of the original.
    np.testing.assert_allclose(1 - u[ld.FLIP_PERMUTATION][:, 0], plain[:, 0], atol=1e-5)
    assert u[36:42, 0].mean() < u[42:48, 0].mean()


def test_rotation_moves_points_with_the_face(face300w_npz):
    faces = ld.LandmarkSet(face300w_npz)
    turn = ld.Augment(rotation=30, rotate_p=1.0, scale=0, shift=0, flip=False, blur_p=0, lowres_p=0, noise_p=0)
    rng = np.random.default_rng(3)
    angles = []
    for _ in range(10):
        _, u = ld.augmented_crop(faces.images[1], faces.boxes[1], faces.points[1], turn, rng)
        eye = u[45] - u[36]
        angles.append(np.degrees(np.arctan2(eye[1], eye[0])))
    assert np.ptp(angles) > 15  # the eye line turns with the augmentation


def test_teacher_labels_a_real_face_close_to_the_human_labels(face300w_dir):
    from moodlens_train.teacher import DlibTeacher, TeacherUnavailable
    from PIL import Image
    try:
        teacher = DlibTeacher()
    except TeacherUnavailable as error:
        pytest.skip(str(error))
    meta = json.loads((face300w_dir / "landmarks.json").read_text())
    errors = []
    with teacher:
        for item in meta["items"][:8]:
            gray = np.asarray(Image.open(face300w_dir / item["image"]).convert("L"))
            label = teacher.label(gray)
            if label.points is None:
                continue
            errors.append(ld.nme(label.points[None], np.asarray(item["points"], np.float32)[None])[0])
    assert len(errors) >= 6
    assert np.mean(errors) < 0.06, errors


def test_tiny_training_run_lowers_the_loss_resumes_and_exports(face300w_npz, tmp_path):
    import onnx
    from moodlens_train.landmark_export import export_onnx, load_model
    from moodlens_train.landmark_train import main
    out = tmp_path / "run"
    common = ["--face300w", str(face300w_npz), "--fer", str(face300w_npz), "--val", str(face300w_npz),
              "--steps", "12", "--batch-size", "16", "--width", "8", "--lr", "3e-3", "--out", str(out),
              "--quiet", "--seed", "3"]
    assert main([*common, "--epochs", "3"]) == 0
    with open(out / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert main([*common, "--epochs", "4", "--resume"]) == 0
    with open(out / "log.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]
    proto, _ = export_onnx(load_model(out / "best.pt"))
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["moodlens.task"] == "landmarks" and meta["moodlens.input_size"] == "64"
    assert [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim][1:] == [68, 2]


def test_a_larger_crop_trains_from_the_64_pixel_weights_and_exports_its_size(face300w_npz, tmp_path):
    import onnx
    from moodlens_train.landmark_export import export_onnx, load_model
    from moodlens_train.landmark_train import main
    common = ["--face300w", str(face300w_npz), "--fer", str(face300w_npz), "--val", str(face300w_npz),
              "--steps", "3", "--batch-size", "8", "--width", "8", "--quiet", "--epochs", "1"]
    assert main([*common, "--out", str(tmp_path / "small")]) == 0
    assert main([*common, "--crop-size", "96", "--heatmap", "48", "--init", str(tmp_path / "small" / "last.pt"),
                 "--out", str(tmp_path / "big")]) == 0
    model = load_model(tmp_path / "big" / "best.pt")
    assert (model.crop_size, model.heatmap_size) == (96, 48)
    proto, _ = export_onnx(model)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["moodlens.input_size"] == "96"
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim][2:] == [96, 96]
    with pytest.raises(ValueError, match="quarter or a half"):
        LandmarkNet(width=8, heatmap=32, crop_size=96)
