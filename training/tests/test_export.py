"""ONNX export (checker, metadata, op set, parity with PyTorch on real faces) and evaluation."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from moodlens_train import LABELS
from moodlens_train.callbacks import CHECKPOINT_FORMAT, atomic_torch_save
from moodlens_train.data import load_folder, scale_images
from moodlens_train.evaluate import evaluate, load_model_from_checkpoint, main as evaluate_main, predict_logits
from moodlens_train.export import ALLOWED_OPS, export, main as export_main, op_types, run_onnx
from moodlens_train.models import build_model, model_config


@pytest.fixture(scope="module")
def best_checkpoint(tiny_run):
    return next(tiny_run.glob("fer2013_dense_xception.*.pt"))


@pytest.fixture(scope="module")
def exported(best_checkpoint, tmp_path_factory, fer_dir):
    out = tmp_path_factory.mktemp("export")
    onnx_path, parity_path = out / "emotion.onnx", out / "emotion.parity.json"
    assert export_main([str(best_checkpoint), str(onnx_path), "--parity-out", str(parity_path)]) == 0
    return onnx_path, parity_path


def test_onnx_file_passes_the_checker_and_describes_itself(exported, best_checkpoint):
    onnx_path, _ = exported
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 13
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["moodlens.labels"]) == list(LABELS)
    assert meta["moodlens.input_size"] == "48"
    assert meta["moodlens.scaling"] == "v1"
    assert meta["moodlens.preprocessing"] == "gray,equalize_hist,resize48"
    assert meta["moodlens.arch"] == "dense_xception"
    assert meta["moodlens.outputs"] == "logits"
    acc = float(best_checkpoint.name.rsplit("-", 1)[1][:-3])
    assert abs(float(meta["moodlens.val_accuracy"]) - acc) <= 0.005
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == "input" and out.name == "logits"
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(inp) == ["N", 1, 48, 48] and dims(out) == ["N", 7]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    ops = op_types(proto)
    assert set(ops) <= ALLOWED_OPS and "BatchNormalization" not in ops  # BN folded into the convs


def test_onnx_graph_reproduces_pytorch_on_real_faces(exported, best_checkpoint, fer_dir):
    onnx_path, _ = exported
    model, ckpt = load_model_from_checkpoint(best_checkpoint, torch.device("cpu"))
    faces = load_folder(fer_dir / "val", limit=64, seed=3)
    expected = predict_logits(model, faces.images, ckpt["scaling"], torch.device("cpu"))
    x = scale_images(faces.images, ckpt["scaling"])[:, None]
    got = run_onnx(onnx.load(str(onnx_path)), x)  # a batch of 64 through the dynamic batch axis
    assert got.shape == (64, 7)
    assert float(np.abs(got - expected).max()) < 1e-4


def test_parity_fixture_holds_real_faces_and_pytorch_logits(exported, best_checkpoint):
    onnx_path, parity_path = exported
    fixture = json.loads(parity_path.read_text())
    assert fixture["model"] == onnx_path.name and fixture["scaling"] == "v1" and fixture["labels"] == list(LABELS)
    assert fixture["input_shape"] == [16, 1, 48, 48] and fixture["tolerance"] == 1e-4
    faces = fixture["faces"]
    assert len(faces) == 16 and len({f["label"] for f in faces}) >= 5
    assert all(f["source"].startswith("val/") for f in faces)
    pixels = np.array([f["pixels"] for f in faces], dtype=np.uint8).reshape(16, 48, 48)
    inputs = np.array([f["input"] for f in faces], dtype=np.float32)
    np.testing.assert_array_equal(inputs.reshape(16, 48, 48), scale_images(pixels, "v1"))
    model, _ = load_model_from_checkpoint(best_checkpoint, torch.device("cpu"))
    with torch.no_grad():
        logits = model(torch.from_numpy(inputs.reshape(16, 1, 48, 48))).numpy()
    np.testing.assert_allclose(np.array([f["logits"] for f in faces], dtype=np.float32), logits, atol=1e-6)
    assert fixture["max_abs_diff_onnx_reference"] < 1e-4


def test_mini_xception_exports_with_v2_scaling(tmp_path, fer_dir):
    torch.manual_seed(0)
    config = model_config("mini_xception")
    model = build_model(config)
    ckpt = {"format": CHECKPOINT_FORMAT, "config": config, "scaling": "v2", "labels": list(LABELS), "epoch": 0,
            "val_acc": 0.0, "model": model.state_dict()}
    atomic_torch_save(ckpt, tmp_path / "mini.pt")
    info = export(tmp_path / "mini.pt", tmp_path / "mini.onnx", parity_out=tmp_path / "p.json",
                  parity_data=fer_dir / "val", parity_count=8, log=lambda *a: None)
    assert "Add" in info["ops"] and info["max_abs_diff"] < 1e-4
    assert info["metadata"]["moodlens.scaling"] == "v2" and info["metadata"]["moodlens.arch"] == "mini_xception"
    fixture = json.loads((tmp_path / "p.json").read_text())
    assert min(min(f["input"]) for f in fixture["faces"]) == -1.0


def test_export_rejects_a_file_that_is_no_checkpoint(tmp_path, capsys):
    (tmp_path / "x.pt").write_bytes(b"<html>")
    assert export_main([str(tmp_path / "x.pt"), str(tmp_path / "x.onnx")]) == 2
    assert "not a readable" in capsys.readouterr().err
    assert export_main([str(tmp_path / "missing.pt"), str(tmp_path / "x.onnx")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_evaluate_reports_accuracy_per_class_metrics_and_confusion(best_checkpoint, fer_dir, tmp_path, capsys):
    out_json = tmp_path / "report.json"
    assert evaluate_main([str(best_checkpoint), "--data", str(fer_dir / "val"), "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "Accuracy:" in text and "Confusion matrix" in text and "precision" in text
    report = json.loads(out_json.read_text())
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (7, 7) and cm.sum() == report["faces"] == 3589
    assert report["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert f"Accuracy: {report['accuracy']:.4f}" in text
    assert [r["label"] for r in report["per_class"]] == list(LABELS)
    assert [r["support"] for r in report["per_class"]] == [467, 56, 496, 895, 653, 415, 607]
    for r in report["per_class"]:
        assert 0.0 <= r["precision"] <= 1.0 and 0.0 <= r["recall"] <= 1.0 and 0.0 <= r["f1"] <= 1.0
    # The best checkpoint's own validation accuracy (512 PublicTest faces) and this one (all 3,589) are close.
    acc = float(best_checkpoint.name.rsplit("-", 1)[1][:-3])
    assert abs(report["accuracy"] - acc) < 0.1


def test_evaluating_onnx_without_onnxruntime_says_what_to_install(exported, fer_dir):
    onnx_path, _ = exported
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        with pytest.raises(SystemExit, match="needs the onnxruntime Python package"):
            evaluate(onnx_path, fer_dir / "val")
    else:
        report = evaluate(onnx_path, fer_dir / "val")
        assert report["faces"] == 3589


def test_an_averaged_model_with_flip_exports_as_one_graph_equal_to_the_mean_of_its_members(tiny_run, tmp_path, fer_dir):
    first, last = next(tiny_run.glob("fer2013_dense_xception.*.pt")), tiny_run / "last.pt"
    onnx_path = tmp_path / "averaged.onnx"
    assert export_main([str(first), str(onnx_path), "--member", str(last), "--flip-average"]) == 0
    proto = onnx.load(str(onnx_path))
    assert {"Slice", "Mul"} <= set(op_types(proto)) <= ALLOWED_OPS
    meta = {p.key: p.value for p in proto.metadata_props}
    config = json.loads(meta["moodlens.config"])
    assert meta["moodlens.arch"] == "averaged_logits" and config["flip_average"] is True
    assert len(config["members"]) == 2 and 0 < float(meta["moodlens.val_accuracy"]) <= 1
    faces = load_folder(fer_dir / "val", limit=16, seed=5)
    x = scale_images(faces.images, "v1")[:, None]
    want = []
    for path in (first, last):
        model, _ = load_model_from_checkpoint(path, torch.device("cpu"))
        with torch.no_grad():
            t = torch.from_numpy(x)
            want += [model(t).numpy(), model(torch.flip(t, [3])).numpy()]
    np.testing.assert_allclose(run_onnx(proto, x), np.mean(want, axis=0), atol=1e-4)
    # Its model card: members and parameters from the graph's metadata, figures from the evaluation given.
    from moodlens_train.card import render_averaged
    confusion = np.eye(7, dtype=int) * 3
    evaluation = {"n": 21, "accuracy": 1.0, "labels": list(LABELS), "confusion": confusion.tolist(),
                  "perClass": {name: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "n": 3} for name in LABELS}}
    text, card = render_averaged(onnx_path, evaluation, "the command")
    assert card["arch"]["arch"] == "averaged_logits" and len(card["arch"]["members"]) == 2
    assert card["parameters"] == int(meta["moodlens.params"]) > 0
    assert "| passes per face | 4 (members x face and mirror) |" in text and "**100.00%**" in text


def test_zoomed_views_export_as_matmuls_that_equal_resampling_the_face(tiny_run, tmp_path, fer_dir):
    first = next(tiny_run.glob("fer2013_dense_xception.*.pt"))
    onnx_path = tmp_path / "zoomed.onnx"
    assert export_main([str(first), str(onnx_path), "--flip-average", "--zoom-average", "0.9,1.15"]) == 0
    proto = onnx.load(str(onnx_path))
    assert "MatMul" in op_types(proto) and set(op_types(proto)) <= ALLOWED_OPS
    config = json.loads({p.key: p.value for p in proto.metadata_props}["moodlens.config"])
    assert config["zooms"] == [1.0, 0.9, 1.15] and config["flip_average"] is True
    faces = load_folder(fer_dir / "val", limit=16, seed=6)
    x = scale_images(faces.images, "v1")[:, None]
    model, _ = load_model_from_checkpoint(first, torch.device("cpu"))
    want = []
    with torch.no_grad():
        t = torch.from_numpy(x)
        for zoom in (1.0, 0.9, 1.15):
            # the reference resampler: bilinear, border pixels repeated, about the centre
            theta = torch.tensor([[1 / zoom, 0, 0], [0, 1 / zoom, 0]], dtype=t.dtype).expand(len(t), 2, 3)
            grid = torch.nn.functional.affine_grid(theta, list(t.shape), align_corners=False)
            view = torch.nn.functional.grid_sample(t, grid, mode="bilinear", padding_mode="border", align_corners=False)
            want += [model(view).numpy(), model(torch.flip(view, [3])).numpy()]
    np.testing.assert_allclose(run_onnx(proto, x), np.mean(want, axis=0), atol=1e-4)
    # a factor outside 0.5-2 is refused before anything is written
    with pytest.raises(SystemExit):
        export_main([str(first), str(tmp_path / "bad.onnx"), "--zoom-average", "3"])
    assert not (tmp_path / "bad.onnx").exists()


def test_half_weights_halve_the_file_and_reproduce_the_rounded_model_exactly(tiny_run, tmp_path, fer_dir):
    first = next(tiny_run.glob("fer2013_dense_xception.*.pt"))
    full, half = tmp_path / "full.onnx", tmp_path / "half.onnx"
    assert export_main([str(first), str(full)]) == 0
    assert export_main([str(first), str(half), "--half-weights", "--parity-out", str(tmp_path / "half.parity.json"),
                        "--parity-data", str(fer_dir / "val"), "--parity-count", "4"]) == 0
    assert half.stat().st_size < 0.6 * full.stat().st_size
    proto = onnx.load(str(half))
    assert "Cast" in op_types(proto) and set(op_types(proto)) <= ALLOWED_OPS
    assert {p.key: p.value for p in proto.metadata_props}["moodlens.weights"].startswith("float16")
    faces = load_folder(fer_dir / "val", limit=32, seed=7)
    x = scale_images(faces.images, "v1")[:, None]
    got, reference = run_onnx(proto, x), run_onnx(onnx.load(str(full)), x)
    # float16 weights move the logits a little, not the answers
    assert 0 < np.abs(got - reference).max() < 0.05
    assert (got.argmax(1) == reference.argmax(1)).mean() >= 0.9
    # the parity fixture holds the rounded model's logits, which the graph reproduces
    fixture = json.loads((tmp_path / "half.parity.json").read_text())
    assert fixture["max_abs_diff_onnx_reference"] < 1e-4
