"""The face detector (issue 21): decoding, NMS and figures on synthetic cases; assignment; a tiny real training
run (face300w crops) that lowers the loss and resumes exactly; the ONNX export (checker, metadata, any input
size, the same numbers as PyTorch under onnxruntime when it is installed: Python's, else Node's)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import commit_all, jpeg_bytes
from moodlens_train.detector.loss import assign, detection_loss
from moodlens_train.detector.metrics import evaluate, iou_matrix, nms
from moodlens_train.detector.model import (STRIDES, DetectorExport, FaceDetector, anchor_points, decode,
                                           flatten_outputs)

REPO = Path(__file__).resolve().parents[2]


def test_decode_turns_distances_and_offsets_into_pixels():
    points = torch.tensor([[100.0, 60.0]])
    strides = torch.tensor([16.0])
    raw = torch.zeros(1, 1, 15)
    raw[0, 0, 0] = 2.0
    raw[0, 0, 1:5] = torch.log(torch.tensor([20.0, 10.0, 30.0, 40.0]) / 16)
    raw[0, 0, 5:7] = torch.tensor([-0.5, 0.25])
    scores, boxes, kps = decode(raw, points, strides)
    assert scores.item() == pytest.approx(1 / (1 + np.exp(-2)), abs=1e-6)
    assert boxes[0, 0].tolist() == pytest.approx([80.0, 50.0, 130.0, 100.0], abs=1e-4)
    assert kps[0, 0, :2].tolist() == pytest.approx([92.0, 64.0], abs=1e-4)


def test_anchor_points_are_cell_centres_row_by_row():
    p = anchor_points(2, 3, 8)
    assert p.tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]


def test_nms_keeps_the_best_of_overlapping_boxes_and_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.3], np.float32)
    assert nms(boxes, scores, 0.4).tolist() == [1, 2]


def test_iou_and_figures_on_a_synthetic_case():
    assert iou_matrix([[0, 0, 10, 10]], [[5, 0, 15, 10]])[0, 0] == pytest.approx(1 / 3)
    gts = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), np.array([[0, 0, 50, 50]], np.float32)]
    dets = [{"boxes": np.array([[0, 0, 10, 10], [100, 100, 110, 110], [21, 21, 31, 31]], np.float32),
             "scores": np.array([0.9, 0.7, 0.2], np.float32)},
            {"boxes": np.array([[0, 0, 50, 50], [1, 1, 50, 50]], np.float32), "scores": np.array([0.8, 0.6], np.float32)}]
    r = evaluate(dets, gts, threshold=0.5, iou=0.4)
    # at 0.5: 3 detections kept (0.9 tp, 0.7 fp, 0.8 tp; 0.6 duplicate fp) -> tp 2, fp 2, faces 3
    assert (r["true_positives"], r["false_positives"], r["faces"]) == (2, 2, 3)
    assert r["recall"] == pytest.approx(2 / 3) and r["precision"] == pytest.approx(0.5)
    # ranked: 0.9 tp, 0.8 tp, 0.7 fp, 0.6 fp, 0.2 tp -> AP = 2/3 * 1 + 1/3 * 3/5
    assert r["ap"] == pytest.approx(2 / 3 + 0.2)


def test_assignment_picks_the_stride_by_face_size_and_respects_ignore_boxes():
    raw, points, strides = flatten_outputs(FaceDetector()(torch.zeros(1, 3, 256, 256)))
    small = np.array([[40, 40, 60, 60]], np.float32)       # 20 px: stride 8
    big = np.array([[60, 40, 220, 220]], np.float32)       # ~170 px: stride 32
    t = assign(points, strides, np.concatenate([small, big]), np.zeros((0, 4), np.float32))
    assert set(strides[t == 0].tolist()) == {8.0}
    assert set(strides[t == 1].tolist()) == {32.0}
    ignore = np.array([[150, 10, 250, 30]], np.float32)
    t = assign(points, strides, small, ignore)
    inside = (points[:, 0] >= 150) & (points[:, 0] <= 250) & (points[:, 1] >= 10) & (points[:, 1] <= 30)
    assert (t[inside] == -2).all() and (t[~inside] != -2).all()
    total, *_ = detection_loss(raw, points, strides, [(small, np.full((1, 5, 2), np.nan, np.float32), ignore)])
    assert torch.isfinite(total)


def test_quality_focal_loss_targets_the_iou_of_the_predicted_box():
    """qfl: a positive's score target is its box's IoU with the face, so a score equal to that IoU costs less than
    a confident 1.0 for a poor box, and 0/1 focal targets would reward the 1.0 instead."""
    raw, points, strides = flatten_outputs(FaceDetector()(torch.zeros(1, 3, 128, 128)))
    face = np.array([[40, 40, 72, 72]], np.float32)   # 32 px: stride 8 and 16
    target = [(face, np.full((1, 5, 2), np.nan, np.float32), np.zeros((0, 4), np.float32))]
    pos = assign(points, strides, face, np.zeros((0, 4), np.float32)) >= 0
    raw = raw.detach().clone()
    raw[..., 0] = -12.0
    raw[0, pos, 1:5] = np.log(np.float32(10.0)) - torch.log(strides[pos])[:, None]  # 20x20 boxes: IoU < 0.4
    _, boxes, _ = decode(raw, points, strides)
    from moodlens_train.detector.loss import iou
    q = iou(boxes[0, pos], torch.from_numpy(face).expand(int(pos.sum()), 4))
    assert (q > 0).all() and (q < 0.5).all()
    at_iou, confident = raw.clone(), raw.clone()
    at_iou[0, pos, 0] = torch.logit(q)
    confident[0, pos, 0] = 12.0
    qfl = [detection_loss(r, points, strides, target, "qfl")[1] for r in (at_iou, confident)]
    focal = [detection_loss(r, points, strides, target, "focal")[1] for r in (at_iou, confident)]
    assert qfl[0] < 0.01 < qfl[1]
    assert focal[1] < focal[0]
    with pytest.raises(ValueError, match="score_loss_kind"):
        detection_loss(raw, points, strides, target, "nope")


def test_a_face_too_small_for_the_centre_rule_still_gets_an_anchor():
    _, points, strides = flatten_outputs(FaceDetector()(torch.zeros(1, 3, 128, 128)))
    t = assign(points, strides, np.array([[3, 3, 9, 9]], np.float32), np.zeros((0, 4), np.float32))
    assert (t == 0).sum() >= 1


def _tiny_data(face300w_dir, root: Path) -> Path:
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "prepare_detector_data", REPO / "training" / "data_sources" / "prepare_detector_data.py")
    prep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prep)
    meta = json.loads((face300w_dir / "landmarks.json").read_text())
    splits = {"train": [], "val": []}
    for i, item in enumerate(meta["items"][:30]):
        box, kps = prep.face300w_box_and_kps(np.asarray(item["points"], np.float64))
        splits["train" if i < 24 else "val"].append(
            {"image": str(face300w_dir / item["image"]), "width": 256, "height": 256, "source": "face300w",
             "group": str(i), "faces": [{"box": box, "kps": kps}]})
    root.mkdir(parents=True, exist_ok=True)
    for k, v in splits.items():
        (root / f"{k}.json").write_text(json.dumps(v))
    return root


def _train(data: Path, out: Path, epochs: int, resume: bool = False):
    from moodlens_train.detector.train import main
    args = ["--out", str(out), "--epochs", str(epochs), "--threads", "1", "--quiet"]
    if resume:
        args.append("--resume")
    else:
        args += ["--data", str(data), "--steps", "4", "--batch-size", "6", "--size", "128", "--seed", "3",
                 "--lr", "3e-3"]
    assert main(args) == 0
    with open(out / "log.csv") as f:
        return f.read().splitlines()


@pytest.fixture(scope="module")
def tiny_run(face300w_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("det")
    data = _tiny_data(face300w_dir, root / "data")
    out = root / "run"
    log = _train(data, out, 4)
    return data, out, log


def test_a_tiny_run_lowers_the_loss_and_keeps_best_and_last(tiny_run):
    _, out, log = tiny_run
    rows = [dict(zip(log[0].split(","), r.split(","))) for r in log[1:]]
    assert len(rows) == 4
    assert float(rows[-1]["loss"]) < 0.9 * float(rows[0]["loss"])  # 0.8 with 0/1 focal targets; qfl's score part starts small
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()


def test_resume_continues_exactly(tiny_run, tmp_path):
    data, _, full = tiny_run
    out = tmp_path / "resumed"
    _train(data, out, 2)
    log = _train(data, out, 4, resume=True)
    strip = lambda rows: [",".join(r.split(",")[:-1]) for r in rows]  # noqa: E731  (seconds differ)
    assert strip(log) == strip(full)


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    from moodlens_train.detector.export import main
    _, out, _ = tiny_run
    path = tmp_path_factory.mktemp("onnx") / "detector.onnx"
    assert main([str(out / "best.pt"), str(path)]) == 0
    return out / "best.pt", path


def test_onnx_passes_the_checker_and_describes_itself(exported):
    import onnx
    _, path = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["moodlens.task"] == "face_detection"
    assert meta["moodlens.strides"] == "8,16,32"
    assert 0 < float(meta["moodlens.score_threshold"]) < 1
    assert json.loads(meta["moodlens.keypoints"])[2] == "nose"
    assert [o.name for o in proto.graph.output] == ["scores", "boxes", "kps"]
    assert {i.name for i in proto.graph.input} == {"input"}
    assert path.stat().st_size < 2_000_000


@pytest.mark.parametrize("name, bad, error, good, recorded", [
    ("fine", ["--fine-long-side", "320"], "more than --long-side", ["--fine-long-side", "640", "--fine-max-face", "32"],
     {"moodlens.fine_long_side": "640", "moodlens.fine_max_face": "32"}),
    ("coarse", ["--coarse-long-side", "416"], "less than --long-side",
     ["--coarse-long-side", "256", "--coarse-min-face", "250"],
     {"moodlens.coarse_long_side": "256", "moodlens.coarse_min_face": "250"}),
])
def test_onnx_records_the_extra_passes(exported, tmp_path, name, bad, error, good, recorded):
    import onnx
    from moodlens_train.detector.export import main
    ckpt, _ = exported
    path = tmp_path / f"{name}.onnx"
    with pytest.raises(SystemExit, match=error):
        main([str(ckpt), str(path), "--long-side", "416", *bad])
    assert main([str(ckpt), str(path), "--long-side", "416", *good]) == 0
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["moodlens.long_side"] == "416"
    assert {k: meta.get(k) for k in recorded} == recorded
    other = "coarse" if name == "fine" else "fine"
    assert not any(k.startswith(f"moodlens.{other}_") for k in meta)


def test_the_fine_pass_adds_only_the_faces_small_at_the_first_pass(monkeypatch):
    from moodlens_train.detector import metrics
    calls = []

    def fake_pass(model, image, threshold, long_side):  # photo 800x600; boxes already in photo pixels
        calls.append(long_side)
        if long_side == 416:
            return np.array([0.9]), np.array([[100, 100, 300, 300]], np.float32), np.zeros((1, 10)), 416 / 800
        boxes = np.array([[500, 400, 530, 430], [101, 100, 301, 300]], np.float32)  # a 30 px face, a copy
        return np.array([0.8, 0.95]), boxes, np.zeros((2, 10)), 640 / 800

    monkeypatch.setattr(metrics, "_pass", fake_pass)
    photo = np.zeros((600, 800, 3), np.uint8)
    single = metrics.detect(None, photo, 0.05, 416)
    assert calls == [416] and single["boxes"].tolist() == [[100, 100, 300, 300]]
    both = metrics.detect(None, photo, 0.05, 416, fine_long_side=640, fine_max_face=32)
    # 30 px is 15.6 px at 416 (kept); the 200 px copy is 104 px there (not added, though it scores higher)
    assert calls == [416, 416, 640]
    assert both["boxes"].tolist() == [[100, 100, 300, 300], [500, 400, 530, 430]]
    assert both["kps"].shape == (2, 5, 2)


def test_the_coarse_pass_adds_only_the_faces_large_at_the_first_pass(monkeypatch):
    from moodlens_train.detector import metrics
    calls = []

    def fake_pass(model, image, threshold, long_side):  # photo 800x600; boxes already in photo pixels
        calls.append(long_side)
        if long_side == 416:
            return np.array([0.9]), np.array([[600, 50, 700, 150]], np.float32), np.zeros((1, 10)), 416 / 800
        boxes = np.array([[50, 20, 750, 580], [601, 50, 701, 150]], np.float32)  # a face filling it, a copy
        return np.array([0.8, 0.95]), boxes, np.zeros((2, 10)), 256 / 800

    monkeypatch.setattr(metrics, "_pass", fake_pass)
    photo = np.zeros((600, 800, 3), np.uint8)
    out = metrics.detect(None, photo, 0.05, 416, coarse_long_side=256, coarse_min_face=250)
    # the large face is sqrt(700 x 560) x 0.52 = 325 px at 416 (added); the 100 px copy is 52 px (not added)
    assert calls == [416, 256]
    assert out["boxes"].tolist() == [[600, 50, 700, 150], [50, 20, 750, 580]]


def test_the_mirror_view_maps_back_and_fuses_pairs_by_mean_and_lone_faces_by_half(monkeypatch):
    from moodlens_train.detector import metrics
    seen = []

    def fake_pass(model, image, threshold, long_side):  # a 100 px wide photo; boxes in photo pixels
        mirrored = bool(image[0, 0, 0])  # the left column is marked: it is the mirror image's right one
        seen.append((mirrored, threshold))
        kps = np.array([[10, 40, 30, 40, 20, 50, 12, 60, 28, 60]], np.float32)
        if not mirrored:  # a face at x 5-35 (0.9) and a false one at x 60-80 (0.7)
            return (np.array([0.9, 0.7], np.float32), np.array([[5, 30, 35, 70], [60, 10, 80, 30]], np.float32),
                    np.concatenate([kps, kps + 55]), 1.0)
        # on the mirror image the face is at x 63-93 (0.7); the false face is not there
        return np.array([0.7], np.float32), np.array([[63, 31, 93, 71]], np.float32), kps + 55, 1.0

    monkeypatch.setattr(metrics, "_pass", fake_pass)
    photo = np.zeros((100, 100, 3), np.uint8)
    photo[:, -1] = 1
    out = metrics.detect(None, photo, 0.4, 416, mirror=True)
    assert seen == [(False, 0.05), (True, 0.05)]  # both views decoded down to the floor
    # the pair: the mirror box maps to x 7-37, the mean is x 6-36, score (0.9 + 0.7) / 2; the false face is
    # alone: 0.7 / 2 = 0.35, under the threshold 0.4
    np.testing.assert_allclose(out["boxes"], [[6, 30.5, 36, 70.5]])
    np.testing.assert_allclose(out["scores"], [0.8], rtol=1e-6)
    # the mirror view's keypoints map back with left and right swapped: its eyes at x 65, 85 become 35, 15,
    # its image-left eye (now at 35) becomes eye_right
    np.testing.assert_allclose(out["kps"][0, :, 0], [(10 + 15) / 2, (30 + 35) / 2, (20 + 25) / 2,
                                                     (12 + 17) / 2, (28 + 33) / 2])
    assert len(metrics.detect(None, photo, 0.3, 416, mirror=True)["scores"]) == 2


def test_fusing_views_pairs_each_face_once_by_best_overlap():
    from moodlens_train.detector.metrics import fuse_views
    a = {"boxes": np.array([[0, 0, 10, 10], [0, 0, 10, 11]], np.float32), "scores": np.array([0.6, 0.8], np.float32),
         "kps": np.zeros((2, 5, 2), np.float32)}
    b = {"boxes": np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32), "scores": np.array([0.4, 0.2], np.float32),
         "kps": np.ones((2, 5, 2), np.float32)}
    fused = fuse_views(a, b)
    # a's 0.8 face comes first and takes b's only overlapping face; a's 0.6 face is then alone; b's far face
    # follows, alone
    np.testing.assert_allclose(fused["scores"], [0.6, 0.3, 0.1], rtol=1e-6)
    np.testing.assert_allclose(fused["boxes"][0], [0, 0, 10, 10.5])
    np.testing.assert_allclose(fused["kps"][0], 0.5)
    empty = {"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32),
             "kps": np.zeros((0, 5, 2), np.float32)}
    assert fuse_views(empty, empty)["boxes"].shape == (0, 4)
    np.testing.assert_allclose(fuse_views(empty, b)["scores"], [0.2, 0.1], rtol=1e-6)


def test_onnx_records_the_mirror_threshold_only_with_the_mirror_view(exported, tmp_path):
    import onnx
    from moodlens_train.detector.export import main
    ckpt, _ = exported
    path = tmp_path / "mirror.onnx"
    for bad in (["--mirror"], ["--mirror-threshold", "0.5"], ["--mirror", "--mirror-threshold", "1.5"]):
        with pytest.raises(SystemExit, match="mirror"):
            main([str(ckpt), str(path), *bad])
    assert main([str(ckpt), str(path), "--mirror", "--mirror-threshold", "0.55"]) == 0
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["moodlens.mirror_score_threshold"] == "0.55"


def _onnx_outputs(path: Path, x: np.ndarray):
    try:
        import onnxruntime as ort
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {"input": x})
    except ImportError:
        pass
    node, module = shutil.which("node"), REPO / "node_modules" / "onnxruntime-node"
    if not node or not module.is_dir():
        pytest.skip("no onnxruntime: neither the Python package nor node + node_modules/onnxruntime-node")
    script = ("const ort=require(process.argv[1]);const fs=require('fs');(async()=>{"
              "const s=await ort.InferenceSession.create(process.argv[2],{intraOpNumThreads:1});"
              "const d=JSON.parse(fs.readFileSync(0,'utf8'));"
              "const r=await s.run({input:new ort.Tensor('float32',Float32Array.from(d.x),d.shape)});"
              "console.log(JSON.stringify(['scores','boxes','kps'].map(k=>({dims:r[k].dims,data:Array.from(r[k].data)}))));})()")
    res = subprocess.run([node, "-e", script, str(module), str(path)], input=json.dumps(
        {"x": x.ravel().tolist(), "shape": list(x.shape)}), capture_output=True, text=True, check=True,
        env={**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip"})
    return [np.asarray(o["data"], np.float32).reshape(o["dims"]) for o in json.loads(res.stdout)]


@pytest.mark.parametrize("shape", [(1, 3, 128, 160), (1, 3, 100, 75)])
def test_onnx_gives_pytorch_numbers_at_any_input_size(exported, face300w_dir, shape):
    from moodlens_train.detector.export import load_model
    import cv2
    ckpt, path = exported
    model, _ = load_model(ckpt)
    img = cv2.imread(str(sorted((face300w_dir / "images").glob("*.jpg"))[0]))[:, :, ::-1]
    img = cv2.resize(img, (shape[3], shape[2]), interpolation=cv2.INTER_AREA)
    x = np.ascontiguousarray(img.transpose(2, 0, 1)[None].astype(np.float32))
    with torch.no_grad():
        ref = [t.numpy() for t in DetectorExport(model)(torch.from_numpy(x))]
    got = _onnx_outputs(path, x)
    anchors = sum(-(-shape[2] // s) * -(-shape[3] // s) for s in STRIDES)
    assert got[0].shape == (1, anchors) and got[1].shape == (1, anchors, 4) and got[2].shape == (1, anchors, 10)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-3)


def test_evaluation_and_card_from_a_tiny_run(tiny_run, exported, tmp_path, capsys):
    from moodlens_train.detector.card import main as card_main
    from moodlens_train.detector.evaluate import main as eval_main
    data, out, _ = tiny_run
    ckpt, onnx_path = exported
    with pytest.raises(SystemExit, match="never on the reported test split"):
        eval_main([str(ckpt), "--data", str(data), "--split", "test", "--pick-threshold"])
    res = tmp_path / "val.json"
    assert eval_main([str(ckpt), "--data", str(data), "--split", "val", "--haar", "--long-side", "256",
                      "--json-out", str(res)]) == 0
    r = json.loads(res.read_text())
    assert r["photos"] == 6 and r["detector"]["all"]["faces"] == 6 and r["haar"]["face300w"]["faces"] == 6
    md = tmp_path / "card.md"
    assert card_main([str(out), str(res), str(onnx_path), str(md), "--command", "train ...",
                      "--eval-command", "evaluate ..."]) == 0
    text = md.read_text()
    assert "| face300w | 6 |" in text and "68,701 parameters" in text


def test_faces_under_the_minimum_size_are_ignored_not_counted():
    gt = np.array([[0, 0, 40, 40], [100, 100, 110, 110]], np.float32)
    det = {"boxes": np.array([[0, 0, 40, 40], [101, 100, 111, 110], [200, 0, 208, 8], [200, 100, 240, 140]],
                             np.float32),
           "scores": np.array([0.9, 0.8, 0.7, 0.6], np.float32)}
    ignoring = evaluate([det], [gt], 0.5, 0.4, min_face=20)
    assert (ignoring["faces"], ignoring["true_positives"], ignoring["false_positives"]) == (1, 1, 1)
    counting = evaluate([det], [gt], 0.5, 0.4)
    assert (counting["faces"], counting["true_positives"], counting["false_positives"]) == (2, 2, 2)


def test_a_photo_without_faces_gives_a_negative_crop_and_a_turned_crop_keeps_its_face():
    from moodlens_train.detector.data import Item, _affine, real_sample
    rng = np.random.default_rng(3)
    photo = np.full((300, 400, 3), 90, np.uint8)
    empty = Item(photo, np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), "ece", "x")
    image, boxes, kps, ignored = real_sample(empty, 160, rng)
    assert image.shape == (160, 160, 3) and boxes.shape == (0, 4)
    box = np.array([[40, 40, 100, 120]], np.float32)
    kp = np.full((1, 5, 2), 70, np.float32)
    straight = _affine(photo, box, kp, 1.0, 0, 0, 160, rng)[1]
    assert straight.tolist() == box.tolist()
    turned = None
    for _ in range(20):  # rotate_p 1: always turned
        turned = _affine(photo, box, kp, 1.0, 0, 0, 160, rng, rotate_p=1.0)[1][0]
    w, h = turned[2] - turned[0], turned[3] - turned[1]
    # the turned face's box: about the face's size (the inscribed ellipse's bounds), not its turned corners'
    assert 60 <= w <= 60 * 1.35 and 80 * 0.85 <= h <= 80 * 1.15


def test_framing_fit_recovers_a_known_mapping():
    from moodlens_train.detector.framing import fit
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(50):
        x, y, w, h = rng.uniform(0, 200), rng.uniform(0, 200), rng.uniform(40, 120), rng.uniform(50, 140)
        s = (w + h) / 2
        cx, cy = x + w / 2 + 0.05 * s, y + h / 2 - 0.1 * s
        side = 1.2 * s
        pairs.append((np.array([x, y, x + w, y + h]), np.array([cx - side / 2, cy - side / 2, cx + side / 2,
                                                                 cy + side / 2])))
    got = fit(pairs)
    assert (got["dx"], got["dy"], got["scale"]) == pytest.approx((0.05, -0.1, 1.2), abs=1e-3)
    assert got["iou_with_haar_median"]["mapped"] == pytest.approx(1.0, abs=1e-3)


def test_prepare_groups_video_frames_and_finds_near_identical_photos():
    import importlib.util
    spec = importlib.util.spec_from_file_location("prep", REPO / "training/data_sources/prepare_detector_data.py")
    prep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prep)
    assert prep.ece_group("IMG_4921-2_mp4-57_jpg.rf.0123abcd") == "IMG_4921-2_mp4"
    assert prep.ece_group("gravitate-faces_mp4-104_jpg.rf.ff") == "gravitate-faces_mp4"
    assert prep.bucket("ece/x") == prep.bucket("ece/x") and 0 <= prep.bucket("mask/y") < 100
    import io
    from PIL import Image
    rng = np.random.default_rng(1)
    base = (rng.random((48, 64)) * 255).astype(np.uint8)

    def png(a):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, "PNG")
        return buf.getvalue()

    h1, h2 = prep.dhash(png(base)), prep.dhash(png(np.clip(base.astype(int) + 3, 0, 255).astype(np.uint8)))
    other = prep.dhash(png((rng.random((48, 64)) * 255).astype(np.uint8)))
    hashes = np.array([h2, other], np.uint64)
    d = prep.hamming(h1, hashes)
    assert d[0] <= prep.SAME_PHOTO_BITS < d[1]


def _prep_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("prep", REPO / "training/data_sources/prepare_detector_data.py")
    prep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prep)
    return prep


def test_extra_training_photos_leave_out_held_out_copies_and_repeats(tmp_path):
    prep = _prep_module()
    rng = np.random.default_rng(2)
    jpg = jpeg_bytes
    held = (rng.random((60, 80)) * 255).astype(np.uint8)
    fresh = (rng.random((60, 80)) * 255).astype(np.uint8)
    voc = b"<annotation><object><bndbox><xmin>10</xmin><ymin>5</ymin><xmax>30</xmax><ymax>35</ymax></bndbox></object></annotation>"
    def voc_at(w, h):
        return prep.voc_faces(voc)

    def yolo_at(w, h):
        return prep.yolo_faces("0 0.5 0.5 0.25 0.5\n", w, h)

    photos = [("ilc", "copy", jpg(np.clip(held.astype(int) + 2, 0, 255).astype(np.uint8)), voc_at),
              ("ilc", "new", jpg(fresh), voc_at),
              ("macwin", "again", jpg(fresh), yolo_at),
              ("macwin", "fresh2", jpg(np.flipud(held)), yolo_at),
              ("macwin", "broken", b"not an image", yolo_at)]
    splits = {"train": [], "val": [], "test": []}
    left = prep.prepare_extra_masked(photos, tmp_path, splits, np.array([prep.dhash(jpg(held))], np.uint64))
    assert left == {"held-out or mask-set copies": 1, "repeats": 1, "unreadable": 1}
    assert [it["image"] for it in splits["train"]] == ["images/ilc/new.jpg", "images/macwin/fresh2.jpg"]
    assert splits["train"][0]["faces"] == [{"box": [10.0, 5.0, 30.0, 35.0], "kps": None}]
    # YOLO fractions become pixels of the photo's own size (80 x 60)
    assert splits["train"][1]["faces"][0]["box"] == pytest.approx([30.0, 15.0, 50.0, 45.0])
    assert (tmp_path / "images/ilc/new.jpg").is_file() and not splits["val"] and not splits["test"]


def test_git_files_reads_a_commit_blob_by_blob(tmp_path):
    prep = _prep_module()
    repo = tmp_path / "r"
    (repo / "data/labels").mkdir(parents=True)
    (repo / "data/labels/a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (repo / "data/b.bin").write_bytes(bytes(range(256)) * 3)
    (repo / "other.txt").write_text("x")
    commit = commit_all(repo)
    files = prep.git_files(repo, commit, "data")
    assert files == {"data/b.bin": bytes(range(256)) * 3, "data/labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"}


def test_keypoint_error_is_over_the_interocular_distance_and_skips_faces_without_points():
    from moodlens_train.detector.metrics import keypoint_error
    det = {"boxes": np.array([[0, 0, 100, 100], [200, 0, 300, 100]], np.float32), "scores": np.array([0.9, 0.3]),
           "kps": np.array([[[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]]] * 2, np.float32)}
    gt = np.array([[0, 0, 100, 100], [200, 0, 300, 100], [400, 0, 500, 100]], np.float32)
    kps = np.array([[[30, 40], [70, 40], [50, 64], [35, 80], [65, 80]],
                    [[230, 40], [270, 40], [250, 60], [235, 80], [265, 80]],
                    [[np.nan, np.nan]] * 5], np.float32)
    r = keypoint_error([det], [gt], [kps], threshold=0.5)
    # the third face has no points; the second's detection is under the threshold (missed)
    assert (r["faces"], r["found"]) == (2, 1)
    assert r["nme_nose"] == pytest.approx(4 / 40) and r["nme"] == pytest.approx(4 / 40 / 5)


def test_review_splits_errors_as_the_figures_count_them():
    from moodlens_train.detector.review import errors, sheet, tile
    gt = np.array([[0, 0, 40, 40], [100, 100, 140, 140], [200, 200, 210, 210]], np.float32)  # the last: 10 px
    dets = {"boxes": np.array([[2, 2, 40, 40], [300, 300, 340, 340], [201, 201, 210, 210], [0, 0, 39, 39]],
                              np.float32), "scores": np.array([0.9, 0.8, 0.95, 0.3])}
    false, missed = errors(dets, gt, threshold=0.5, iou=0.4, min_face=20)
    # the 10 px face's detection is neither; the 0.3 one is under the threshold
    assert [(list(b), s) for b, s in false] == [([300, 300, 340, 340], pytest.approx(0.8))]
    assert [list(b) for b in missed] == [[100, 100, 140, 140]]
    image = np.zeros((400, 400, 3), np.uint8)
    tiles = [tile(image, b, "x", gt) for b, _ in false] + [tile(image, b, "y", gt) for b in missed]
    assert sheet(tiles, 3).shape == (128, 3 * 128, 3)
