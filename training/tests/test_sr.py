"""FSRNet's data path (degradation, bicubic, priors, PSNR/SSIM), a tiny training run and its ONNX export, on
real faces: face300w crops shrunk to 48x48 with their human landmarks, and FER-2013 PublicTest faces."""
from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from moodlens_train import sr_data as sd
from moodlens_train import sr_degrade as dg


@pytest.fixture(scope="module")
def faces48(face300w_dir, tmp_path_factory):
    """40 face300w crops area-resized to 48x48 and equalized, their human points mapped along, as an .npz in
    the layout landmark_labels writes (image, points, emotion)."""
    meta = json.loads((face300w_dir / "landmarks.json").read_text())
    images, points = [], []
    for item in meta["items"][:40]:
        gray = cv2.imread(str(face300w_dir / item["image"]), cv2.IMREAD_GRAYSCALE)
        s = 48 / gray.shape[0]
        images.append(cv2.equalizeHist(cv2.resize(gray, (48, 48), interpolation=cv2.INTER_AREA)))
        points.append((np.asarray(item["points"], np.float32) + 0.5) * s - 0.5)
    path = tmp_path_factory.mktemp("sr") / "faces48.npz"
    np.savez(path, image=np.stack(images), points=np.stack(points), emotion=np.zeros(len(images), np.int64))
    return path


def test_bicubic_is_pytorchs(fer_dir):
    face = cv2.imread(str(next((fer_dir / "val" / "happy").glob("*.jpg"))), cv2.IMREAD_GRAYSCALE)
    for f in (2, 3, 4):
        small = dg.degrade(face, f)
        ours = dg.bicubic(small, 48, 48)
        theirs = F.interpolate(torch.from_numpy(small.astype(np.float64))[None, None], size=(48, 48),
                               mode="bicubic", align_corners=False)[0, 0].numpy()
        assert np.abs(ours - theirs).max() < 1e-9


def test_degrade_blurs_then_averages_blocks(fer_dir):
    face = cv2.imread(str(next((fer_dir / "val" / "sad").glob("*.jpg"))), cv2.IMREAD_GRAYSCALE)
    small = dg.degrade(face, 4)
    assert small.shape == (12, 12) and small.dtype == np.uint8
    # A flat image stays flat; the mean brightness is kept within rounding.
    flat = np.full((48, 48), 77, np.uint8)
    assert (dg.degrade(flat, 4) == 77).all()
    assert abs(small.mean() - face.mean()) < 2.0
    # Blur taps: normalised, symmetric, 3 sigma wide.
    taps = dg.gaussian_taps(1.0)
    assert len(taps) == 7 and abs(taps.sum() - 1) < 1e-12 and np.allclose(taps, taps[::-1])
    with pytest.raises(ValueError, match="multiple"):
        dg.degrade(face[:47], 4)


def test_priors_sit_on_the_face(faces48):
    data = np.load(faces48)
    pts = data["points"][0]
    heat = sd.heatmaps(torch.from_numpy(pts)).numpy()
    assert heat.shape == (68, 24, 24)
    peaks = np.array([np.unravel_index(h.argmax(), h.shape)[::-1] for h in heat])  # (x, y) per point
    assert np.abs(peaks - sd.to_prior_frame(pts)).max() <= 0.5 + 1e-6
    parse = sd.parsing_map(pts)
    present = set(np.unique(parse))
    assert {0, 1, 3, 4, 5} <= present, present
    # The mouth region lies below the eyes, the nose between them.
    rows = {c: np.nonzero(parse == c)[0].mean() for c in (3, 4, 5)}
    assert rows[3] < rows[4] < rows[5]


def test_psnr_and_ssim_match_their_definitions(fer_dir):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    face = cv2.imread(str(next((fer_dir / "val" / "angry").glob("*.jpg"))), cv2.IMREAD_GRAYSCALE)
    restored = sd.bicubic_baseline(face[None], 4)[0]
    assert abs(sd.psnr(restored[None], face[None])[0] - peak_signal_noise_ratio(face, restored, data_range=255)) < 1e-9
    theirs = structural_similarity(face, restored, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                   data_range=255)
    assert abs(sd.ssim(restored[None], face[None])[0] - theirs) < 1e-6
    assert sd.ssim(face[None], face[None])[0] == pytest.approx(1.0)


def test_tiny_training_run_lowers_the_loss_resumes_and_exports(faces48, tmp_path):
    import onnx
    from moodlens_train.sr_export import export_onnx, load_model, parity_fixture
    from moodlens_train.sr_train import main
    out = tmp_path / "run"
    common = ["--train", str(faces48), "--val", str(faces48), "--val-limit", "16", "--steps", "10",
              "--batch-size", "8", "--width", "8", "--blocks", "1", "--lr", "2e-3", "--out", str(out), "--quiet"]
    assert main([*common, "--epochs", "3"]) == 0
    with open(out / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert main([*common, "--epochs", "4", "--resume"]) == 0
    with open(out / "log.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]
    model = load_model(out / "best.pt")
    proto = export_onnx(model)
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["moodlens.task"] == "super_resolution" and meta["moodlens.input_size"] == "48"
    assert [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim][1:] == [1, 48, 48]
    fixture = parity_fixture(model, faces48, 2)
    assert len(fixture["inputs"]) == 2 and len(fixture["outputs"][0]) == 48 * 48
    assert all(0.0 <= v <= 1.0 for v in fixture["outputs"][0])


def test_no_prior_ablation_has_no_prior_branch():
    from moodlens_train.sr_model import FSRNet, count_parameters
    full, ablation = FSRNet(width=8, blocks=1), FSRNet(width=8, blocks=1, priors=False)
    assert count_parameters(ablation) < count_parameters(full)
    x = torch.rand(2, 1, 48, 48)
    coarse, fine, heat, parse = full(x)
    assert fine.shape == x.shape and heat.shape == (2, 68, 24, 24) and parse.shape == (2, 6, 24, 24)
    assert ablation(x)[2] is None


def test_worker_batches_train_reproducibly(faces48, tmp_path):
    """--workers 2: the batches come from two DataLoader processes; the loss is finite and falls, and a second
    run with the same seed and workers logs the same losses."""
    from moodlens_train.sr_train import main
    common = ["--train", str(faces48), "--val", str(faces48), "--val-limit", "8", "--steps", "8", "--batch-size",
              "8", "--width", "8", "--blocks", "1", "--lr", "2e-3", "--epochs", "2", "--workers", "2",
              "--device", "cpu", "--quiet"]
    logs = []
    for name in ("a", "b"):
        assert main([*common, "--out", str(tmp_path / name)]) == 0
        with open(tmp_path / name / "log.csv") as f:
            logs.append([float(r["loss"]) for r in csv.DictReader(f)])
    assert all(np.isfinite(logs[0])) and logs[0][1] < logs[0][0]
    assert logs[0] == logs[1]


def test_batches_stay_compact_until_the_device(faces48):
    data = np.load(faces48)
    rng = np.random.default_rng(3)
    x, y, pts, parse = sd.training_batch(data["image"], data["points"], np.array([0, 1, 2]), sd.Degradation(), rng)
    assert x.dtype == y.dtype == parse.dtype == np.uint8 and pts.dtype == np.float32
    tx, ty, heat, tparse = sd.to_device(tuple(torch.from_numpy(a) for a in (x, y, pts, parse)), torch.device("cpu"))
    assert tx.shape == ty.shape == (3, 1, 48, 48) and tx.dtype == torch.float32 and float(ty.max()) <= 1.0
    assert heat.shape == (3, 68, 24, 24) and tparse.dtype == torch.int64
    # Each heatmap peaks on its point (the batch's points: flipped along with their faces).
    flat = heat.flatten(2).argmax(2).numpy()
    peaks = np.stack([flat % 24, flat // 24], axis=-1)
    assert np.abs(peaks - sd.to_prior_frame(pts)).max() <= 0.5 + 1e-6


def test_factors_choose_the_degradations_a_model_trains_on(faces48, tmp_path):
    """--factors 4 trains a x4-only model (every training input comes from 12x12), recorded in its config;
    factors are drawn as often as they are listed (the default 2,2,3,4,4: the 40/20/40% mix of x2, x3 and
    x4); factors outside 2..8 are refused."""
    hr = np.load(faces48)["image"][0]
    rng = np.random.default_rng(0)
    only4 = sd.Degradation.for_factors([4])
    assert {sd.random_low_res(hr, only4, rng).shape for _ in range(20)} == {(12, 12)}
    assert sd.Degradation.for_factors([4, 2, 3, 4, 2]) == sd.Degradation()
    weighted = sd.Degradation.for_factors([2, 2, 3, 4, 4, 4, 4])
    assert weighted.factors == (2, 3, 4) and np.allclose(weighted.factor_p, [2 / 7, 1 / 7, 4 / 7])
    assert {sd.random_low_res(hr, sd.Degradation(), rng).shape for _ in range(60)} == {(12, 12), (16, 16), (24, 24)}
    with pytest.raises(ValueError):
        sd.Degradation.for_factors([1])
    from moodlens_train.sr_train import main
    common = ["--train", str(faces48), "--val", str(faces48), "--val-limit", "8", "--steps", "2", "--batch-size", "4",
              "--width", "8", "--blocks", "1", "--epochs", "1", "--quiet"]
    assert main([*common, "--factors", "4", "--out", str(tmp_path / "x4")]) == 0
    assert torch.load(tmp_path / "x4" / "best.pt")["config"]["factors"] == [4]
    from moodlens_train.sr_export import export_onnx, load_model
    meta = {p.key: p.value for p in export_onnx(load_model(tmp_path / "x4" / "best.pt")).metadata_props}
    assert meta["moodlens.trained_factors"] == "4"
    with pytest.raises(SystemExit, match="--factors"):
        main([*common, "--factors", "4,x", "--out", str(tmp_path / "bad")])


def test_mirror_average_is_symmetric_and_differs_from_one_pass(faces48):
    """The self-ensemble restores a mirrored face as the mirror of the face's restoration (one pass alone does
    not: the network is not symmetric), on real degraded faces."""
    from moodlens_train.sr_model import FSRNet
    from moodlens_train.sr_train import enhance
    torch.manual_seed(0)
    model = FSRNet(width=8, blocks=1)
    inputs = sd.evaluation_inputs(np.load(faces48)["image"][:6], 4)
    mirrored = np.ascontiguousarray(inputs[:, :, ::-1])
    averaged = enhance(model, inputs, flip=True)
    assert np.abs(enhance(model, mirrored, flip=True)[:, :, ::-1].astype(int) - averaged).max() <= 1
    one_pass = enhance(model, inputs)
    assert np.abs(enhance(model, mirrored)[:, :, ::-1].astype(int) - one_pass).max() > 1
    assert np.abs(averaged.astype(int) - one_pass).max() > 0
