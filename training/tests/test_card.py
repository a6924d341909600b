"""The model card is rendered from measured files: numbers in, the same numbers out."""

import json

import pytest

from moodlens_train import LABELS
from moodlens_train.card import main


def test_card_reports_the_measured_figures(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    args = {
        "lr": 0.001, "label_smoothing": 0.1, "batch_size": 64, "weight_decay": 1e-4, "rotation": 10.0,
        "shift": 0.1, "zoom": 0.1, "erase": 0.25, "lr_factor": 0.3, "lr_patience": 5, "patience": 20,
        "seed": 1, "scaling": "v1",
    }
    (run / "run.json").write_text(json.dumps({
        "args": args, "config": {"arch": "dense_xception"}, "params": 554740, "mflops": 56.55,
        "device": "cpu", "threads": 2, "torch": "1.13",
    }))
    (run / "log.csv").write_text(
        "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n1,0.001,1.7,0.34,1.44,0.44,57\n2,0.001,1.5,0.45,1.33,0.49,60\n"
    )
    model = tmp_path / "emotion.onnx"
    model.write_bytes(b"x" * 1234)
    confusion = [[1 if i == j else 0 for j in range(7)] for i in range(7)]
    per_class = {name: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "n": 1} for name in LABELS}
    evaluation = {"n": 7, "accuracy": 0.6543, "perClass": per_class, "confusion": confusion, "labels": list(LABELS)}
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    out = tmp_path / "card.md"
    assert main([str(run), str(model), str(tmp_path / "eval.json"), str(out), "--ablation", f"dense={run}"]) == 0
    text = out.read_text()
    assert "**65.43%**" in text
    assert "554,740" in text and "1,234 bytes" in text
    assert "| dense | 554,740 | 56.5 | 2 | 49.00% | 2 |" in text
    assert "best PublicTest epoch 2" in text


def test_detector_card_json_is_built_from_the_evaluation_files(tmp_path):
    from moodlens_train.detector.card_json import build
    fig = {"recall": 0.5, "precision": 0.75, "ap": 0.61234, "ap50": 0.5, "faces": 4}
    (tmp_path / "run.json").write_text(json.dumps({"args": {"width": 24, "neck": 64, "data": "data/x"},
                                                   "parameters": 10, "train_photos": 7, "val_photos": 3}))
    common = {"epoch": 5, "threshold": 0.6, "long_side": 416, "iou": 0.4, "min_face": 20.0, "photos": 9}
    (tmp_path / "val416-fine.json").write_text(json.dumps({**common, "detector": {"all": fig}}))
    (tmp_path / "test.json").write_text(json.dumps({**common, "detector": {"mask": fig, "all": fig},
                                                    "haar": {"all": {"recall": 0.1, "precision": 0.2, "faces": 4}}}))
    (tmp_path / "test-single.json").write_text(json.dumps({**common, "threshold": 0.5, "detector": {"all": fig}}))
    (tmp_path / "wider-val-416-640.json").write_text(json.dumps({"ap": {"easy": {"ap": 0.71111}}}))
    (tmp_path / "commands.json").write_text(json.dumps({"train": "x"}))
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"123")
    card = build(tmp_path, onnx)
    assert card["model"]["bytes"] == 3 and card["model"]["epoch"] == 5
    assert list(card["test"]["shipped"]) == ["all", "mask"] and card["test"]["shipped"]["all"]["ap"] == 0.6123
    assert card["wider_face_val"]["416-640"] == {"easy": 0.7111}
    assert "9 held out" in card["data"]["split"]
    assert card["webfaces"] is None
    # WebFaces: recall and measured precision, and the precision with the judged sample of false detections
    wf = {"recall": 0.9, "precision": 0.8, "faces": 100, "true_positives": 90, "false_positives": 10}
    (tmp_path / "webfaces-test.json").write_text(json.dumps({**common, "detector": {"all": wf}}))
    verdicts = [{"verdict": v} for v in ["face"] * 3 + ["not-face"]]
    (tmp_path / "webfaces-review.json").write_text(json.dumps({"detectors": {"cnn": {"reviewed": verdicts}}}))
    card = build(tmp_path, onnx)
    assert card["webfaces"]["cnn"]["reviewed_precision"] == pytest.approx((90 + 0.75 * 10) / 100)
    assert card["webfaces"]["cnn"]["measured_precision"] == 0.8 and "haar" not in card["webfaces"]
    (tmp_path / "webfaces-test.json").write_text(json.dumps({**common, "epoch": 4, "detector": {"all": wf}}))
    with pytest.raises(SystemExit, match="not the shipped 5"):
        build(tmp_path, onnx)
    (tmp_path / "webfaces-test.json").unlink()
    # the mirror view, where measured: its val threshold, the held-out test, WebFaces from Node's figures
    assert card["mirror"] is None
    (tmp_path / "val-web-mirror.json").write_text(json.dumps({**common, "threshold": 0.55, "detector": {"all": fig}}))
    (tmp_path / "test-mirror.json").write_text(json.dumps({**common, "threshold": 0.55, "detector": {"all": fig}}))
    (tmp_path / "webfaces-test-mirror.json").write_text(json.dumps({"epoch": 5, "figures": {"recall": 0.9}}))
    mirror = build(tmp_path, onnx)["mirror"]
    assert mirror["score_threshold"] == 0.55 and mirror["test"]["ap"] == 0.6123
    assert mirror["webfaces"] == {"recall": 0.9}
    (tmp_path / "test-mirror.json").write_text(json.dumps({**common, "epoch": 4, "detector": {"all": fig}}))
    with pytest.raises(SystemExit, match="not the shipped 5"):
        build(tmp_path, onnx)
    (tmp_path / "test.json").write_text(json.dumps({**common, "epoch": 6, "detector": {"all": fig}}))
    with pytest.raises(SystemExit, match="different checkpoints"):
        build(tmp_path, onnx)
