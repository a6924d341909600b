"""The model card is rendered from measured files: numbers in, the same numbers out."""

import json

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
