"""A tiny REAL training run (512 FER-2013 training faces, 3 epochs) and resuming it, including after a kill."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import TEST_THREADS, TRAINING_DIR, tiny_args
from moodlens_train.callbacks import load_checkpoint
from moodlens_train.train import main


def read_log(run: Path):
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def best_files(run: Path, arch="dense_xception"):
    return sorted(p.name for p in run.glob(f"fer2013_{arch}.*.pt"))


def test_tiny_run_learns_and_writes_its_files(tiny_run):
    rows = read_log(tiny_run)
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < losses[0], f"training loss did not go down: {losses}"
    best = best_files(tiny_run)
    assert len(best) == 1, best  # only the best checkpoint is kept
    assert (tiny_run / "last.pt").is_file() and (tiny_run / "run.json").is_file()
    assert not list(tiny_run.glob(".*.tmp"))
    ckpt = load_checkpoint(tiny_run / best[0])
    accs = [float(r["val_acc"]) for r in rows]
    epoch = int(best[0].split(".")[1].split("-")[0])
    assert ckpt["epoch"] == epoch and accs[epoch - 1] == max(accs)
    assert best[0] == f"fer2013_dense_xception.{epoch:02d}-{max(accs):.2f}.pt"
    last = load_checkpoint(tiny_run / "last.pt")
    assert last["epoch"] == 3 and last["finished"].startswith("epochs")
    assert {"optimizer", "scheduler", "early_stopping", "rng", "best", "args"} <= set(last)


def test_resume_continues_where_it_stopped_with_identical_results(fer_dir, tiny_run, tmp_path, capsys):
    run = tmp_path / "resumed"
    assert main(tiny_args(fer_dir, run, epochs=2)) == 0
    assert [int(r["epoch"]) for r in read_log(run)] == [1, 2]
    # What a kill during epoch 3 can leave behind: its log row, its best checkpoint, a temp file.
    with open(run / "log.csv", "a") as f:
        f.write("3,0.001,1.0,0.5,1.0,0.99,1.0\n")
    (run / "fer2013_dense_xception.03-0.99.pt").write_bytes(b"torn")
    (run / ".last.pt.abc.tmp").write_bytes(b"torn")

    capsys.readouterr()
    assert main(["--resume", str(run), "--epochs", "3", "--threads", str(TEST_THREADS), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "epoch 2 done" in out and "removed fer2013_dense_xception.03-0.99.pt" in out
    assert [int(r["epoch"]) for r in read_log(run)] == [1, 2, 3]
    assert len(best_files(run)) == 1 and not list(run.glob(".*.tmp"))
    assert load_checkpoint(run / "last.pt")["epoch"] == 3
    # Same data order, augmentation and weights as the uninterrupted run.
    assert_same_run(tiny_run, run)


def assert_same_run(a: Path, b: Path):
    for ra, rb in zip(read_log(a), read_log(b)):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert float(ra[key]) == pytest.approx(float(rb[key]), rel=1e-4, abs=1e-5), (ra["epoch"], key)
    wa = load_checkpoint(a / "last.pt")["model"]
    wb = load_checkpoint(b / "last.pt")["model"]
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), rtol=1e-3, atol=1e-5), k


def test_resume_after_a_real_kill(fer_dir, tiny_run, tmp_path):
    run = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(TRAINING_DIR))
    cmd = [sys.executable, "-m", "moodlens_train.train", *tiny_args(fer_dir, run, epochs=3)]
    errors = open(tmp_path / "stderr.txt", "wb")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        deadline = time.time() + 90
        while not (run / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)  # into epoch 2 (or writing its files)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        errors.close()
    assert (run / "last.pt").exists(), f"no last.pt before the kill: {(tmp_path / 'stderr.txt').read_text()[-2000:]}"
    done = load_checkpoint(run / "last.pt")["epoch"]
    assert 1 <= done <= 3
    assert main(["--resume", str(run / "last.pt"), "--threads", str(TEST_THREADS), "--quiet"]) == 0
    assert [int(r["epoch"]) for r in read_log(run)] == [1, 2, 3]
    assert len(best_files(run)) == 1
    assert_same_run(tiny_run, run)


def test_refuses_to_overwrite_a_run_and_finished_runs_do_nothing(fer_dir, tiny_run, capsys):
    assert main(tiny_args(fer_dir, tiny_run, epochs=3)) == 2
    assert "already holds a run (last.pt): pass --resume" in capsys.readouterr().err
    assert main(["--resume", str(tiny_run), "--quiet"]) == 0
    assert "nothing to do: 3 epochs done" in capsys.readouterr().out


def test_bad_arguments_give_clear_errors(fer_dir, tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope"), "--val", str(fer_dir / "val"), "--out", str(tmp_path / "r")]) == 2
    assert "data set not found" in capsys.readouterr().err
    assert main(["--data", str(fer_dir / "train"), "--out", str(tmp_path / "r")]) == 2
    assert "--val: a validation set is required" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "missing")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_cli_help_runs_from_the_training_folder():
    for module in (["moodlens_train.train"], ["moodlens_train", "train"], ["moodlens_train.export"],
                   ["moodlens_train.evaluate"]):
        res = subprocess.run([sys.executable, "-m", *module, "--help"], cwd=TRAINING_DIR, capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert "usage:" in res.stdout
