"""Trains an emotion classifier on FER-2013 (image folders or fer2013.csv), resumable at any moment.

    cd training
    /usr/bin/python3 -m moodlens_train.train --data /data/fer2013/train --val /data/fer2013/val --out runs/dense
    /usr/bin/python3 -m moodlens_train.train --resume runs/dense          # after a kill, same results

The run folder gets: ``log.csv`` (one row per epoch), ``fer2013_<arch>.<epoch>-<val_acc>.pt`` (the best model
only), ``last.pt`` (everything needed to resume, rewritten atomically each epoch) and ``run.json`` (the
configuration). Per-epoch progress goes to stderr, the model summary and the final result to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from . import LABELS, SCALINGS, __version__
from .augment import AugmentConfig, augment, class_weights, mixup, soft_cross_entropy, soft_targets
from .callbacks import (
    CHECKPOINT_FORMAT,
    BestCheckpoint,
    CsvLogger,
    EarlyStopping,
    Monitor,
    atomic_write_bytes,
    atomic_torch_save,
    load_checkpoint,
)
from .data import USAGES, DatasetError, FaceSet, default_usage, describe, load_faces, rescale_unit
from .defaults import TRAIN_DEFAULTS, HelpFormatter, cpu_threads, eval_batch_size, resolve_device
from .distill import Teachers, cached_teacher_logits, distillation_loss
from .evaluate import loss_and_accuracy, predict_logits
from .models import ARCHS, build_model, model_config
from .summary import summarize

D = TRAIN_DEFAULTS

#: Flags a resumed run takes from the command line; every other setting comes from the checkpoint.
RESUME_OVERRIDES = ("epochs", "patience", "threads", "device", "data", "val", "val_batch_size", "quiet")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m moodlens_train.train",
        description="Train a FER-2013 emotion classifier (mini_xception or dense_xception).",
        formatter_class=HelpFormatter,
    )
    g = p.add_argument_group("data")
    g.add_argument("--data", help="training faces: image folders <root>/<emotion>/*.jpg, or fer2013.csv")
    g.add_argument("--val", help="validation faces (PublicTest); default for a CSV --data: the same CSV")
    g.add_argument("--usage", choices=USAGES, default=None, help="CSV rows for --data (default: Training)")
    g.add_argument("--val-usage", choices=USAGES, default=None, help="CSV rows for --val (default: PublicTest)")
    g.add_argument("--limit", type=int, default=None, help="use N training faces (stratified, seeded): quick runs")
    g.add_argument("--val-limit", type=int, default=None, help="use N validation faces (stratified): quick runs")
    g.add_argument("--scaling", choices=SCALINGS, default=D["scaling"], help="v1: x/255 in [0,1]; v2: [-1,1]")

    g = p.add_argument_group("model")
    g.add_argument("--arch", choices=ARCHS, default=D["arch"], help="model architecture")
    g.add_argument("--width", type=int, default=D["width"], help="stem channels (default: 16 for dense_xception, 64 for resnet)")
    g.add_argument("--growth", type=int, default=D["growth"],
                   help="dense_xception: channels per dense layer in module 1 (x2 per module)")
    g.add_argument("--layers", default=D["layers"], help="dense_xception: dense layers in each of the 4 modules")
    g.add_argument("--compression", type=float, default=D["compression"],
                   help="dense_xception: transition keeps this share of channels")

    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=D["epochs"], help="maximum epochs (early stopping may end sooner)")
    g.add_argument("--batch-size", type=int, default=D["batch_size"], help="training batch")
    g.add_argument("--lr", type=float, default=D["lr"], help="Adam learning rate")
    g.add_argument("--weight-decay", type=float, default=D["weight_decay"], help="L2 on conv weights (0: off)")
    g.add_argument("--label-smoothing", type=float, default=D["label_smoothing"], help="0: off")
    g.add_argument("--class-weights", choices=("none", "balanced", "sqrt"), default=D["class_weights"],
                   help="loss weights per class from the training counts")
    g.add_argument("--mixup", type=float, default=D["mixup"], help="mixup alpha (0: off)")
    g.add_argument("--schedule", choices=("plateau", "cosine"), default=D["schedule"],
                   help="plateau: ReduceLROnPlateau (the paper's callback); cosine: per-step cosine decay from --lr "
                        "to --min-lr over --epochs, after --warmup epochs of linear warm-up (for long GPU runs)")
    g.add_argument("--warmup", type=int, default=D["warmup"], help="cosine: warm-up epochs")
    g.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA (ignored on the CPU)")

    g = p.add_argument_group("distillation (soft labels from trained teachers)")
    g.add_argument("--teacher", action="append", default=None, metavar="CKPT",
                   help="a trained checkpoint whose logits (with its mirror image, averaged over all --teacher "
                        "flags) the model also learns from; repeat for an ensemble")
    g.add_argument("--teacher-logits", metavar="FILE", default=None,
                   help="distil offline: the teachers' logits on the unaugmented training faces (with mirrors), "
                        "read from FILE, or computed once from the --teacher checkpoints and written there; the "
                        "teachers then do not run during training (several times faster epochs on a CPU)")
    g.add_argument("--kd-weight", type=float, default=D["kd_weight"],
                   help="share of the distillation term in the loss (the rest: cross-entropy with the labels)")
    g.add_argument("--kd-temperature", type=float, default=D["kd_temperature"], help="softmax temperature T")
    g.add_argument("--init", metavar="CKPT", default=None,
                   help="start from this checkpoint's weights (same architecture; fresh optimiser and schedule): "
                        "fine-tuning, e.g. distilling an ensemble into one of its members")

    g = p.add_argument_group("augmentation (Keras ImageDataGenerator style, per batch on the device)")
    g.add_argument("--rotation", type=float, default=D["rotation"], help="degrees")
    g.add_argument("--shift", type=float, default=D["shift"], help="fraction of the side")
    g.add_argument("--zoom", type=float, default=D["zoom"], help="scale range 1 +- zoom, x and y independently")
    g.add_argument("--flip", action=argparse.BooleanOptionalAction, default=D["flip"], help="horizontal flips")
    g.add_argument("--erase", type=float, default=D["erase"], help="random erasing probability (0: off)")
    g.add_argument("--no-augment", action="store_true", help="no augmentation at all (rotation/shift/zoom/flip/erase)")

    g = p.add_argument_group("callbacks")
    g.add_argument("--monitor", choices=("val_acc", "val_loss"), default=D["monitor"],
                   help="quantity for the best checkpoint, early stopping and ReduceLROnPlateau")
    g.add_argument("--patience", type=int, default=D["patience"], help="early stopping patience (0: off)")
    g.add_argument("--lr-factor", type=float, default=D["lr_factor"], help="ReduceLROnPlateau factor")
    g.add_argument("--lr-patience", type=int, default=D["lr_patience"], help="ReduceLROnPlateau patience")
    g.add_argument("--min-lr", type=float, default=D["min_lr"], help="ReduceLROnPlateau floor; cosine end")

    g = p.add_argument_group("run")
    g.add_argument("--out", default=None, help="run folder (default: runs/fer2013_<arch>)")
    g.add_argument("--resume", nargs="?", const="", default=None, metavar="RUN",
                   help="continue from last.pt: of the run folder or file RUN, or of --out when RUN is omitted")
    g.add_argument("--force", action="store_true", help="start afresh in an --out folder that holds a run")
    g.add_argument("--seed", type=int, default=D["seed"], help="seeds weights, data order, augmentation, --limit")
    g.add_argument("--threads", type=int, default=D["threads"], help="torch CPU threads (default: all cores)")
    g.add_argument("--device", default=D["device"], help="auto (cuda if available), cpu, cuda, cuda:N, mps")
    g.add_argument("--val-batch-size", type=int, default=D["val_batch_size"], help="default: 64 on CPU, 512 on GPU")
    g.add_argument("--quiet", action="store_true", help="no model summary and no per-epoch progress")
    return p


def parse_layers(text) -> List[int]:
    if isinstance(text, (list, tuple)):
        return [int(n) for n in text]
    try:
        layers = [int(n) for n in str(text).split(",")]
    except ValueError:
        raise ValueError(f"--layers: expected 4 comma-separated integers (e.g. 2,3,4,4) but received {text!r}") from None
    if len(layers) != 4 or min(layers) < 1:
        raise ValueError(f"--layers: expected 4 comma-separated integers >= 1 but received {text!r}")
    return layers


def explicit_flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set:
    """Destinations of the flags given on the command line (not defaults)."""
    probe = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:  # noqa: SLF001 - re-declare each flag with a suppressed default
        if action.option_strings and action.dest != "help":
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if isinstance(action, argparse._StoreTrueAction):  # noqa: SLF001
                probe.add_argument(*action.option_strings, action="store_true", **kwargs)
            elif isinstance(action, argparse.BooleanOptionalAction):
                probe.add_argument(*action.option_strings, action=argparse.BooleanOptionalAction, **kwargs)
            else:
                probe.add_argument(*action.option_strings, nargs=action.nargs, **kwargs)
    known, _ = probe.parse_known_args(list(argv))
    return set(vars(known))


# --------------------------------------------------------------------------------------------------------------


class Trainer:
    """One training run: data in memory, model, optimiser, scheduler, callbacks and the RNG, all resumable."""

    def __init__(self, args: argparse.Namespace, resume_from: Optional[dict] = None, log=print, progress=None):
        self.args = args
        self.log = log
        self.progress = progress or (lambda text, final=False: None)
        self.device = resolve_device(args.device)
        torch.set_num_threads(args.threads or cpu_threads())
        self.channels_last = self.device.type == "cpu"
        self.amp = bool(args.amp) and self.device.type == "cuda"
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed 48x48 shapes: pick the fastest kernels once
        self.run_dir = Path(args.out)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.prefix = f"fer2013_{args.arch}"

        # data
        val_path = args.val or args.data
        if not args.val and Path(args.data).suffix.lower() != ".csv":
            raise DatasetError("--val: a validation set is required (e.g. the PublicTest folder) unless --data is a CSV")
        self.train_set = self._load(args.data, args.usage or default_usage(args.data, "train"), args.limit, "train")
        self.val_set = self._load(val_path, args.val_usage or default_usage(val_path, "val"), args.val_limit, "val")
        self.train_x = torch.from_numpy(self.train_set.images).to(self.device)
        self.train_y = torch.from_numpy(self.train_set.labels).to(self.device)

        # model
        torch.manual_seed(args.seed)
        self.config = model_config(args.arch, width=args.width, growth=args.growth, layers=parse_layers(args.layers),
                                   compression=args.compression)
        self.model = build_model(self.config).to(self.device)
        if args.init and resume_from is None:
            self._init_from(args.init)
        self.summary = summarize(self.model)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        decay = [p for n, p in self.model.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in self.model.named_parameters() if p.ndim <= 1]
        self.optimizer = torch.optim.Adam(
            [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=args.lr,
        )
        self.monitor = Monitor(args.monitor)
        self.steps_per_epoch = math.ceil(self.train_x.shape[0] / args.batch_size)
        self.scheduler = self._scheduler()
        self.teachers = None
        self.teacher_logits = None  # offline distillation: one row per training face
        if args.teacher_logits:
            if args.mixup > 0:
                raise ValueError("--teacher-logits: cached logits belong to single faces; they cannot follow "
                                 "--mixup's mixed faces (use --teacher alone, or --mixup 0)")
            cached = cached_teacher_logits(args.teacher_logits, args.teacher, self.train_set.images,
                                           self.train_set.labels, self.device, self.channels_last, self.log,
                                           lambda done, total: self.progress(f"teacher logits {done}/{total}"))
            self.teacher_logits = torch.from_numpy(cached).to(self.device)
        elif args.teacher:
            self.teachers = Teachers(args.teacher, self.device, self.channels_last)
            for line in self.teachers.descriptions:
                self.log(f"teacher {line}")
        self.early = EarlyStopping(self.monitor, args.patience)
        self.best = BestCheckpoint(self.run_dir, self.prefix, self.monitor)
        self.csv = CsvLogger(self.run_dir / "log.csv")
        self.gen = torch.Generator()
        self.gen.manual_seed(args.seed)
        self.weights = class_weights(self.train_set.class_counts(), args.class_weights)
        if self.weights is not None:
            self.weights = self.weights.to(self.device)
        self.aug = None if args.no_augment else AugmentConfig(
            rotation=args.rotation, shift=args.shift, zoom=args.zoom, flip=args.flip, erase=args.erase)
        self.epoch = 0  # epochs completed
        self.finished = ""
        if resume_from is not None:
            self._restore(resume_from)

    def _init_from(self, path: str) -> None:
        ckpt = load_checkpoint(path)
        if ckpt["config"] != self.config:
            raise ValueError(f"--init {path}: its model {json.dumps(ckpt['config'])} is not the one asked for "
                             f"({json.dumps(self.config)}): pass the same --arch/--width/--growth/--layers")
        if ckpt.get("scaling", "v1") != self.args.scaling:
            raise ValueError(f"--init {path}: trained with --scaling {ckpt.get('scaling')}, not {self.args.scaling}")
        self.model.load_state_dict(ckpt["model"])
        self.log(f"init: weights of {path} (epoch {ckpt.get('epoch')}, val_acc {float(ckpt.get('val_acc', 0)):.4f})")

    def _scheduler(self):
        args = self.args
        if args.schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode=self.monitor.mode, factor=args.lr_factor, patience=args.lr_patience,
                min_lr=args.min_lr,
            )
        floor = min(1.0, args.min_lr / args.lr) if args.lr > 0 else 1.0

        def factor(step: int) -> float:  # read args.epochs each time: a resumed run may extend it
            warm = args.warmup * self.steps_per_epoch
            if step < warm:
                return (step + 1) / warm
            total = max(1, args.epochs * self.steps_per_epoch - warm)
            t = min(1.0, (step - warm) / total)
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    def _load(self, path, usage, limit, role) -> FaceSet:
        t0 = time.time()
        faces = load_faces(path, usage=usage, limit=limit, seed=self.args.seed)
        self.log(f"{role}: {describe(faces)} [{time.time() - t0:.1f}s]")
        return faces

    # ----------------------------------------------------------------------------------------------------------
    # checkpoints

    def payload(self, full: bool, val_acc: float, val_loss: float) -> dict:
        state = {
            "format": CHECKPOINT_FORMAT,
            "config": self.config,
            "scaling": self.args.scaling,
            "labels": list(LABELS),
            "epoch": self.epoch,
            "val_acc": val_acc,
            "val_loss": val_loss,
            "val_source": self.val_set.source,
            "val_path": str(Path(self.args.val or self.args.data).resolve()),
            "val_usage": self.args.val_usage or default_usage(self.args.val or self.args.data, "val"),
            "params": self.summary.params,
            "mflops": self.summary.mflops,
            "model": {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()},
            "moodlens_train": __version__,
            "torch": torch.__version__,
        }
        if full:
            state.update(
                {
                    "args": {k: v for k, v in vars(self.args).items()},
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "early_stopping": self.early.state_dict(),
                    "best": self.best.state_dict(),
                    "rng": {
                        "generator": self.gen.get_state(),
                        "torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                    },
                    "finished": self.finished,
                }
            )
        return state

    def _restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.early.load_state_dict(ckpt["early_stopping"])
        self.early.patience = self.args.patience
        self.best.load_state_dict(ckpt["best"])
        self.gen.set_state(ckpt["rng"]["generator"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if ckpt["rng"].get("cuda") and torch.cuda.is_available():
            try:
                torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
            except (RuntimeError, IndexError):
                pass  # a different number of GPUs: the data order and augmentation still come from self.gen
        self.epoch = int(ckpt["epoch"])
        self.finished = ckpt.get("finished", "")
        self.csv.truncate(self.epoch)
        for f in self.best.clean_stale():
            self.log(f"resume: removed {f.name} (written by the interrupted epoch)")

    def save_last(self, val_acc: float, val_loss: float) -> None:
        atomic_torch_save(self.payload(True, val_acc, val_loss), self.run_dir / "last.pt")

    # ----------------------------------------------------------------------------------------------------------
    # epochs

    def train_epoch(self) -> Dict[str, float]:
        self.model.train()
        n = self.train_x.shape[0]
        bs = self.args.batch_size
        order = torch.randperm(n, generator=self.gen).to(self.device)
        # running sums stay on the device: reading them every step would stall a GPU
        total_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        seen = 0
        t0 = last = time.time()
        steps = math.ceil(n / bs)
        for step in range(steps):
            idx = order[step * bs : (step + 1) * bs]
            if idx.numel() < 2:  # BatchNorm cannot train on one face
                continue
            y = self.train_y[idx]
            x01 = self.train_x[idx].unsqueeze(1).float().div_(255.0)
            x01 = augment(x01, self.aug, self.gen)
            targets = soft_targets(y, len(LABELS), self.args.label_smoothing)
            if self.args.mixup > 0:  # mixing before the (affine) scaling is the same as after it
                x01, targets, _ = mixup(x01, targets, self.args.mixup, self.gen)
            x = rescale_unit(x01, self.args.scaling)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else contextlib.nullcontext():
                logits = self.model(x)
                if self.teacher_logits is not None:
                    teacher = self.teacher_logits[idx]
                else:
                    teacher = self.teachers.logits(x01) if self.teachers else None
            loss = soft_cross_entropy(logits, targets, self.weights)
            if teacher is not None:
                w = self.args.kd_weight
                loss = (1.0 - w) * loss + w * distillation_loss(logits, teacher, self.args.kd_temperature)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.args.schedule == "cosine":
                self.scheduler.step()
            b = idx.numel()
            total_loss += loss.detach().float() * b
            correct += (logits.detach().argmax(1) == y).sum()
            seen += b
            now = time.time()
            if now - last >= 0.5:
                last = now
                rate = seen / max(now - t0, 1e-9)
                self.progress(f"epoch {self.epoch + 1}: {seen}/{n} loss {float(total_loss) / seen:.4f} "
                              f"acc {int(correct) / seen:.4f} {rate:.0f} img/s")
        seconds = time.time() - t0
        return {"train_loss": float(total_loss) / max(seen, 1), "train_acc": int(correct) / max(seen, 1),
                "train_seconds": seconds, "train_rate": seen / max(seconds, 1e-9)}

    def validate(self) -> Dict[str, float]:
        logits = predict_logits(self.model, self.val_set.images, self.args.scaling, self.device,
                                eval_batch_size(self.device.type, self.args.val_batch_size), self.channels_last)
        loss, acc = loss_and_accuracy(logits, self.val_set.labels)
        return {"val_loss": loss, "val_acc": acc}

    def fit(self) -> dict:
        args = self.args
        if self.finished.startswith("early") and 0 < args.patience <= self.early.wait:
            self.log(f"nothing to do: the run stopped early after epoch {self.epoch} ({self.finished}); "
                     "pass a larger --patience (or 0) with --resume to go on")
            return self.result()
        if self.epoch >= args.epochs:
            self.log(f"nothing to do: {self.epoch} epochs done (--epochs {args.epochs}); pass a larger --epochs")
            return self.result()
        self.finished = ""
        while self.epoch < args.epochs:
            t0 = time.time()
            lr = self.optimizer.param_groups[0]["lr"]
            stats = self.train_epoch()
            stats.update(self.validate())
            seconds = time.time() - t0
            self.epoch += 1
            value = stats[self.monitor.name]
            if args.schedule == "plateau":
                self.scheduler.step(value)
            stop = self.early.step(self.epoch, value)
            self.csv.append({"epoch": self.epoch, "lr": lr, "train_loss": stats["train_loss"],
                             "train_acc": stats["train_acc"], "val_loss": stats["val_loss"],
                             "val_acc": stats["val_acc"], "seconds": round(seconds, 2)})
            saved = self.best.step(self.epoch, value, stats["val_acc"],
                                   self.payload(False, stats["val_acc"], stats["val_loss"]))
            if stop:
                self.finished = f"early stopping: no {self.monitor.name} improvement in {args.patience} epochs"
            elif self.epoch >= args.epochs:
                self.finished = f"epochs: {args.epochs} done"
            self.save_last(stats["val_acc"], stats["val_loss"])
            new_lr = self.optimizer.param_groups[0]["lr"]
            self.progress(
                f"epoch {self.epoch}/{args.epochs}  loss {stats['train_loss']:.4f} acc {stats['train_acc']:.4f}  "
                f"val_loss {stats['val_loss']:.4f} val_acc {stats['val_acc']:.4f}  lr {lr:.2g}  "
                f"{seconds:.1f}s ({stats['train_rate']:.0f} img/s)"
                + ("  * saved " + self.best.path.name if saved and self.best.path else "")
                + (f"  -> lr {new_lr:.2g}" if new_lr < lr and args.schedule == "plateau" else ""),
                final=True,
            )
            if stop:
                break
        if self.finished:
            self.log(f"finished: {self.finished}")
        return self.result()

    def result(self) -> dict:
        return {
            "run_dir": str(self.run_dir),
            "epochs": self.epoch,
            "best_checkpoint": str(self.best.path) if self.best.path else None,
            "best": self.best.best,
            "best_epoch": self.early.best_epoch,
            "monitor": self.monitor.name,
            "finished": self.finished,
        }


# --------------------------------------------------------------------------------------------------------------
# CLI


def _progress_printer(quiet: bool):
    stream = sys.stderr
    tty = stream.isatty()

    def progress(text: str, final: bool = False) -> None:
        if quiet:
            return
        if tty:
            stream.write("\r\033[K" + text + ("\n" if final else ""))
            stream.flush()
        elif final:
            stream.write(text + "\n")
            stream.flush()

    return progress


def resolve_resume(args: argparse.Namespace) -> Path:
    if args.resume:
        target = Path(args.resume)
    elif args.out:
        target = Path(args.out)
    else:
        raise ValueError("--resume: name the run folder (or its last.pt), or pass --out")
    path = target / "last.pt" if target.is_dir() or target.suffix != ".pt" else target
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    log = print
    try:
        resume_ckpt = None
        if args.resume is not None:
            path = resolve_resume(args)
            resume_ckpt = load_checkpoint(path)
            given = explicit_flags(parser, argv)
            stored = dict(resume_ckpt["args"])
            ignored = [k for k in given if k not in RESUME_OVERRIDES + ("resume", "out", "force")
                       and stored.get(k) != getattr(args, k)]
            for k in RESUME_OVERRIDES:
                if k in given or k == "quiet" or (stored.get(k) is None and getattr(args, k) is not None):
                    stored[k] = getattr(args, k)
            stored["out"] = str(path.parent)
            stored["resume"] = args.resume
            args = argparse.Namespace(**{**vars(args), **stored})
            if ignored:
                log(f"resume: kept the run's own {', '.join('--' + k.replace('_', '-') for k in sorted(ignored))} "
                    f"(only {', '.join('--' + k.replace('_', '-') for k in RESUME_OVERRIDES)} may change)")
            log(f"resume: {path} (epoch {resume_ckpt['epoch']} done)")
        else:
            if not args.data:
                parser.error("--data is required (or --resume RUN)")
            args.out = args.out or os.path.join("runs", f"fer2013_{args.arch}")
            last = Path(args.out) / "last.pt"
            if last.exists() and not args.force:
                raise ValueError(f"{args.out} already holds a run (last.pt): pass --resume to continue it, "
                                 "--force to start afresh there, or another --out")
            if args.force and Path(args.out).is_dir():
                for f in Path(args.out).iterdir():
                    if f.name in ("last.pt", "log.csv", "run.json") or f.name.startswith(f"fer2013_{args.arch}."):
                        f.unlink()
        if args.batch_size < 2:
            raise ValueError(f"--batch-size: expected an integer >= 2 but received {args.batch_size}")
        trainer = Trainer(args, resume_from=resume_ckpt, log=log, progress=_progress_printer(args.quiet))
    except (DatasetError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    if resume_ckpt is None:
        info = {"args": vars(args), "config": trainer.config, "params": trainer.summary.params,
                "mflops": trainer.summary.mflops, "torch": torch.__version__, "python": platform.python_version(),
                "device": str(trainer.device), "threads": torch.get_num_threads(), "moodlens_train": __version__}
        atomic_write_bytes(trainer.run_dir / "run.json", (json.dumps(info, indent=2) + "\n").encode())
    if not args.quiet:
        print(trainer.summary.format(f"Model: {args.arch} {json.dumps(trainer.config)}"))
    print(f"device {trainer.device}, {torch.get_num_threads()} threads, run folder {trainer.run_dir}", flush=True)
    result = trainer.fit()
    if result["best_checkpoint"]:
        print(f"best {result['monitor']} {result['best']:.4f} at epoch {result['best_epoch']}: "
              f"{result['best_checkpoint']}")
        print(f"export: python -m moodlens_train.export {result['best_checkpoint']} "
              f"{os.path.join(result['run_dir'], 'fer2013_' + args.arch + '.onnx')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
