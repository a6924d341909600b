"""Training callbacks in the Keras spirit: best checkpoint, early stopping, CSV log; all resumable.

Every file is written atomically (a temp file in the same folder, fsync, ``os.replace``), so a run killed at
any moment leaves either the old or the new version of each file, never a torn one.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

_UMASK = os.umask(0)
os.umask(_UMASK)

CSV_FIELDS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")


def atomic_write_bytes(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def emit_json(data, path=None) -> None:
    """Prints `data` as indented JSON on stdout and, given a path, writes the same text there (atomically)."""
    import json

    text = json.dumps(data, indent=2)
    print(text)
    if path:
        atomic_write_bytes(path, (text + "\n").encode())


def atomic_torch_save(obj, path) -> None:
    """``torch.save`` to a temp file beside ``path``, then ``os.replace``."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path, map_location="cpu") -> dict:
    """Loads a MoodLens checkpoint (plain tensors and Python values only: ``weights_only`` loading)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        # torch 1.x's weights-only unpickler rejects plain floats (pickle opcode BINFLOAT), which every
        # checkpoint holds (learning rates, scores): there, fall back to a full load. Load trusted files only.
        if not torch.__version__.startswith("1."):
            raise ValueError(f"{path}: not a readable MoodLens checkpoint ({error})") from error
        try:
            ckpt = torch.load(path, map_location=map_location)
        except Exception as error2:
            raise ValueError(f"{path}: not a readable PyTorch checkpoint ({error2})") from error2
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a MoodLens training checkpoint (no format={CHECKPOINT_FORMAT!r} entry)")
    return ckpt


CHECKPOINT_FORMAT = "moodlens-train/1"


class Monitor:
    """A monitored quantity: val_acc (higher is better) or val_loss (lower is better)."""

    def __init__(self, name: str, min_delta: float = 0.0):
        if name not in ("val_acc", "val_loss"):
            raise ValueError(f"monitor: expected val_acc or val_loss but received {name!r}")
        self.name = name
        self.mode = "max" if name == "val_acc" else "min"
        self.min_delta = min_delta

    def initial(self) -> float:
        return -math.inf if self.mode == "max" else math.inf

    def better(self, value: float, best: float) -> bool:
        if self.mode == "max":
            return value > best + self.min_delta
        return value < best - self.min_delta


class EarlyStopping:
    """Stops when the monitored value has not improved for ``patience`` epochs (0 disables)."""

    def __init__(self, monitor: Monitor, patience: int):
        self.monitor = monitor
        self.patience = patience
        self.best = monitor.initial()
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch = 0

    def step(self, epoch: int, value: float) -> bool:
        """Records an epoch's value; True when training should stop."""
        if self.monitor.better(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return False
        self.wait += 1
        if self.patience > 0 and self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def state_dict(self) -> Dict[str, float]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: Dict[str, float]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self.stopped_epoch = int(state.get("stopped_epoch", 0))


class BestCheckpoint:
    """Keeps only the best model as ``<prefix>.<epoch:02d>-<val_acc:.2f>.pt`` in the run folder (Keras' naming)."""

    def __init__(self, run_dir, prefix: str, monitor: Monitor):
        self.run_dir = Path(run_dir)
        self.prefix = prefix
        self.monitor = monitor
        self.best = monitor.initial()
        self.path: Optional[Path] = None
        self.pattern = re.compile(re.escape(prefix) + r"\.\d+-\d+\.\d+\.pt$")

    def filename(self, epoch: int, val_acc: float) -> str:
        return f"{self.prefix}.{epoch:02d}-{val_acc:.2f}.pt"

    def step(self, epoch: int, value: float, val_acc: float, payload: dict) -> bool:
        """Saves ``payload`` when ``value`` improves on the best so far, removing the previous best. True if saved."""
        if not self.monitor.better(value, self.best):
            return False
        path = self.run_dir / self.filename(epoch, val_acc)
        atomic_torch_save(payload, path)
        previous, self.path, self.best = self.path, path, value
        if previous is not None and previous != path:
            try:
                previous.unlink()
            except FileNotFoundError:
                pass
        return True

    def clean_stale(self) -> List[Path]:
        """Removes best-checkpoint files other than the current one (left by a run killed mid-epoch)."""
        removed = []
        for f in self.run_dir.iterdir():
            if self.pattern.match(f.name) and (self.path is None or f.name != self.path.name):
                f.unlink()
                removed.append(f)
        for f in self.run_dir.glob(".*.tmp"):  # temp files of an interrupted atomic write
            f.unlink()
            removed.append(f)
        return removed

    def state_dict(self) -> dict:
        return {"best": self.best, "path": self.path.name if self.path else None}

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state["best"])
        self.path = self.run_dir / state["path"] if state.get("path") else None


class CsvLogger:
    """Appends one row per epoch (default columns: epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds),
    rewriting the file atomically, so that a killed run never leaves half a row."""

    def __init__(self, path, fields: Sequence[str] = CSV_FIELDS):
        self.path = Path(path)
        self.fields = tuple(fields)

    def rows(self) -> List[Dict[str, str]]:
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def truncate(self, last_epoch: int) -> None:
        """Keeps the rows of epochs <= ``last_epoch`` (rows of an epoch a killed run did not checkpoint go)."""
        rows = [r for r in self.rows() if int(r["epoch"]) <= last_epoch]
        self._write(rows)

    def append(self, row: Dict[str, object]) -> None:
        rows = self.rows()
        rows.append({k: _fmt(row.get(k, "")) for k in self.fields})
        self._write(rows)

    def _write(self, rows: List[Dict[str, str]]) -> None:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.fields, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.path, out.getvalue().encode())


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class SimpleRun:
    """A run folder's resumable state for the simple training loops (landmarks, FSRNet): `last.pt` holds the
    payload plus optimizer, scheduler, both random states and the best selection score, so `--resume`
    continues exactly; the CSV log is cut back to the last saved epoch."""

    def __init__(self, out, log_fields: Sequence[str]):
        self.out = Path(out)
        self.log = CsvLogger(self.out / "log.csv", log_fields)

    def start(self, resume: bool, model, opt, sched, rng, best: float) -> Tuple[int, float]:
        """(first epoch to run, best score so far), restoring everything from last.pt when resuming."""
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            ckpt = torch.load(self.out / "last.pt", map_location="cpu")
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            rng.bit_generator.state = ckpt["numpy_rng"]
            torch.set_rng_state(ckpt["torch_rng"])
            self.log.truncate(ckpt["epoch"])
            print(f"resumed after epoch {ckpt['epoch']} (best selection score {ckpt['best']:.4f})", file=sys.stderr)
            return ckpt["epoch"] + 1, ckpt["best"]
        if (self.out / "last.pt").exists():
            raise SystemExit(f"{self.out} already holds a run: pass --resume to continue it or choose another --out")
        return 1, best

    def save(self, payload: dict, opt, sched, rng, best: float, is_best: bool) -> None:
        """best.pt (the payload) when `is_best`, and always last.pt (payload plus the resumable state)."""
        if is_best:
            atomic_torch_save(payload, self.out / "best.pt")
        atomic_torch_save({**payload, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                           "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                           "best": best}, self.out / "last.pt")
