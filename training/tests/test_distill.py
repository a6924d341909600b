"""Knowledge distillation, the cosine schedule and the resnet teacher: real FER-2013 faces, real tiny runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from conftest import tiny_args
from moodlens_train.callbacks import load_checkpoint
from moodlens_train.distill import Teachers, distillation_loss
from moodlens_train.models import build_model, model_config
from moodlens_train.train import main


def read_log(run: Path):
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_distillation_loss_is_zero_only_when_the_student_matches_the_teacher():
    torch.manual_seed(0)
    teacher = torch.randn(16, 7)
    assert float(distillation_loss(teacher.clone(), teacher, 3.0)) == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(16, 7)
    assert float(distillation_loss(other, teacher, 3.0)) > 0.01
    # the T^2 factor keeps the soft term's scale comparable across temperatures
    a, b = float(distillation_loss(other, teacher, 2.0)), float(distillation_loss(other, teacher, 4.0))
    assert 0.2 < a / b < 5.0


def test_resnet_teacher_shapes_and_default_width():
    config = model_config("resnet")
    assert config == {"arch": "resnet", "width": 64}
    small = build_model(model_config("resnet", width=16)).eval()
    assert small(torch.rand(2, 1, 48, 48)).shape == (2, 7)
    big = build_model(config)
    assert 10_000_000 < sum(p.numel() for p in big.parameters()) < 12_000_000  # ResNet-18-shaped


def test_teachers_average_each_model_and_its_mirror(tmp_path):
    torch.manual_seed(1)
    model = build_model(model_config("dense_xception")).eval()
    ckpt = {"format": "moodlens-emotion-checkpoint/1", "config": model_config("dense_xception"), "scaling": "v1",
            "epoch": 1, "val_acc": 0.5, "model": model.state_dict()}
    from moodlens_train.callbacks import CHECKPOINT_FORMAT, atomic_torch_save

    ckpt["format"] = CHECKPOINT_FORMAT
    atomic_torch_save(ckpt, tmp_path / "t.pt")
    teachers = Teachers([str(tmp_path / "t.pt")], torch.device("cpu"))
    x = torch.rand(3, 1, 48, 48)
    with torch.no_grad():
        expected = (model(x) + model(torch.flip(x, [3]))) / 2
    assert torch.allclose(teachers.logits(x), expected, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="--teacher"):
        Teachers([str(tmp_path / "missing.pt")], torch.device("cpu"))


def test_cosine_run_decays_to_the_floor_and_distillation_trains(fer_dir, tiny_run, tmp_path):
    """A student distilled from the tiny run's model: the log shows warm-up then cosine decay, loss goes down."""
    teacher = sorted(tiny_run.glob("fer2013_dense_xception.*.pt"))[0]
    out = tmp_path / "kd"
    extra = ["--schedule", "cosine", "--warmup", "1", "--lr", "2e-3", "--min-lr", "1e-5", "--teacher", str(teacher),
             "--kd-weight", "0.5", "--patience", "0"]
    assert main(tiny_args(fer_dir, out, epochs=4, extra=extra)) == 0
    rows = read_log(out)
    lrs = [float(r["lr"]) for r in rows]  # the rate at each epoch's start
    assert lrs[0] < 2e-3 * 0.2  # first warm-up step
    assert lrs[1] == pytest.approx(2e-3, rel=1e-3)  # warm-up done after one epoch
    assert lrs[1] > lrs[2] > lrs[3]
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < losses[0], losses
    last = load_checkpoint(out / "last.pt")
    assert last["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-5, rel=1e-2)  # ends on --min-lr
    assert last["args"]["teacher"] == [str(teacher)]


def test_init_starts_from_a_checkpoints_weights_and_refuses_another_architecture(fer_dir, tiny_run, tmp_path, capsys):
    from moodlens_train.train import Trainer, build_parser

    best = sorted(tiny_run.glob("fer2013_dense_xception.*.pt"))[0]
    source = load_checkpoint(best)["model"]
    args = build_parser().parse_args(tiny_args(fer_dir, tmp_path / "init", epochs=1, extra=["--init", str(best)]))
    trainer = Trainer(args, log=lambda *a: None)
    state = trainer.model.state_dict()
    assert all(torch.equal(state[k].contiguous(), v) for k, v in source.items())
    fresh = Trainer(build_parser().parse_args(tiny_args(fer_dir, tmp_path / "fresh", epochs=1)), log=lambda *a: None)
    assert not torch.equal(fresh.model.state_dict()["head.conv.weight"], source["head.conv.weight"])

    rc = main(tiny_args(fer_dir, tmp_path / "wrong", epochs=1, extra=["--init", str(best), "--growth", "8"]))
    assert rc == 2
    assert "--init" in capsys.readouterr().err


def test_offline_distillation_caches_the_teachers_logits_and_checks_them(fer_dir, tiny_run, tmp_path, capsys):
    """--teacher-logits: computed once from the teachers (the same numbers Teachers gives on the unaugmented
    faces), reused without them, and refused for other faces, other teachers or mixup."""
    from moodlens_train.distill import Teachers, teacher_logits_for
    from moodlens_train.data import load_faces
    import numpy as np

    teacher = str(sorted(tiny_run.glob("fer2013_dense_xception.*.pt"))[0])
    cache = tmp_path / "teacher-logits.npz"
    extra = ["--teacher", teacher, "--teacher-logits", str(cache), "--kd-weight", "0.5"]
    assert main(tiny_args(fer_dir, tmp_path / "offline", epochs=3, extra=extra)) == 0
    losses = [float(r["train_loss"]) for r in read_log(tmp_path / "offline")]
    assert losses[-1] < losses[0], losses
    assert load_checkpoint(tmp_path / "offline" / "last.pt")["args"]["teacher_logits"] == str(cache)

    with np.load(cache) as z:
        logits, labels = z["logits"], z["labels"]
    args = tiny_args(fer_dir, tmp_path / "x", epochs=1)
    limit = int(args[args.index("--limit") + 1])
    faces = load_faces(str(fer_dir / "train"), limit=limit, seed=int(args[args.index("--seed") + 1]))
    expected = teacher_logits_for(Teachers([teacher], torch.device("cpu")), faces.images, torch.device("cpu"))
    assert logits.shape == (len(faces.labels), 7)
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    np.testing.assert_array_equal(labels, faces.labels)

    # The file alone serves a second run (no --teacher); a different face set, other teachers or mixup are refused.
    assert main(tiny_args(fer_dir, tmp_path / "reuse", epochs=1, extra=["--teacher-logits", str(cache)])) == 0
    assert "teacher logits: " + str(cache) in capsys.readouterr().out
    other_limit = tiny_args(fer_dir, tmp_path / "other", epochs=1, extra=["--teacher-logits", str(cache)])
    other_limit[other_limit.index("--limit") + 1] = str(limit - 10)
    assert main(other_limit) == 2
    assert "other training faces" in capsys.readouterr().err
    other_teacher = ["--teacher", teacher, "--teacher", teacher, "--teacher-logits", str(cache)]
    assert main(tiny_args(fer_dir, tmp_path / "other2", epochs=1, extra=other_teacher)) == 2
    assert "not the --teacher" in capsys.readouterr().err
    assert main(tiny_args(fer_dir, tmp_path / "mix", epochs=1, extra=["--teacher-logits", str(cache),
                                                                       "--mixup", "0.2"])) == 2
    assert "--mixup" in capsys.readouterr().err
    assert main(tiny_args(fer_dir, tmp_path / "none", epochs=1, extra=["--teacher-logits",
                                                                        str(tmp_path / "missing.npz")])) == 2
    assert "no --teacher" in capsys.readouterr().err
