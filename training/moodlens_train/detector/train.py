"""Trains the face detector on the prepared data (training/data_sources/); selects on the val split.

    cd training
    nice -n 10 /usr/bin/python3 -m moodlens_train.detector.train --data data/detector --out runs/detector
    nice -n 10 /usr/bin/python3 -m moodlens_train.detector.train --out runs/detector --resume   # go on

Each epoch is --steps batches of --batch-size random --size crops (see detector/data.py: real photos at random
scales, collages of face300w faces on face-free photos, photometric augmentation, mirror images). After each
epoch the model runs on every val photo (resized to a long side of --val-long-side, 416 by default: faces
there are at most ~300 px, the largest the 320 px training crops hold), and the run keeps:

- `log.csv`: epoch, lr, the loss and its parts, val AP (IoU 0.4 and 0.5), val recall / precision / F1 at the
  val-best score threshold (IoU 0.4), seconds;
- `best.pt`: the model of the epoch with the best val AP at IoU 0.4 (with that threshold in it);
- `last.pt`: the last epoch's model, Adam, ReduceLROnPlateau (on val AP), early-stopping counter and both random
  states, so `--resume` continues exactly where a killed run stopped (an interrupted epoch is redone).

Early stopping: --patience epochs without a better val AP (0: never). The rate halves after --lr-patience
epochs without one (down to --min-lr).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..callbacks import SimpleRun
from .data import backgrounds, load_split, make_batch
from .loss import SCORE_LOSSES, detection_loss
from .metrics import MIN_EVAL_FACE, best_threshold, detect, evaluate
from .model import FaceDetector, count_parameters, flatten_outputs

FORMAT = "moodlens-detector/1"
LOG_FIELDS = ("epoch", "lr", "loss", "score_loss", "box_loss", "kps_loss", "val_ap", "val_ap50", "val_recall",
              "val_precision", "val_f1", "val_threshold", "seconds")
RESUMABLE = ("epochs", "patience", "threads", "quiet", "data", "val_long_side")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="prepared data folder (train/val .json; default data/detector, "
                   "or the resumed run's)")
    p.add_argument("--out", type=Path, default=Path("runs/detector"))
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--steps", type=int, default=100, help="batches per epoch")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--size", type=int, default=320, help="training crop side (a multiple of 32)")
    p.add_argument("--collage", type=float, default=0.4, help="share of collage samples")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--neck", type=int, default=48)
    p.add_argument("--score-loss", choices=SCORE_LOSSES, default="qfl",
                   help="qfl: IoU-aware score targets (quality focal loss); focal: 0/1 targets (the first run's)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr", type=float, default=1e-5)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--lr-patience", type=int, default=6)
    p.add_argument("--patience", type=int, default=20, help="early stopping (0: off)")
    p.add_argument("--limit", type=int, help="first N training photos only (quick runs)")
    p.add_argument("--val-limit", type=int, help="first N val photos only (quick runs)")
    p.add_argument("--val-long-side", type=int, default=416,
                   help="val photos are resized to this long side, as the detector will run (default %(default)s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt (its flags, except " +
                   ", ".join(RESUMABLE) + ")")
    p.add_argument("--init", type=Path, help="start from this checkpoint's weights (same --width and --neck): "
                   "fine-tuning on new data")
    p.add_argument("--quiet", action="store_true")
    return p


@torch.no_grad()
def validate(model, items, threshold=None, long_side: int = 416):
    model.eval()
    dets = [detect(model, it.image, threshold=0.05, long_side=long_side) for it in items]
    gts = [it.boxes for it in items]
    thr = best_threshold(dets, gts, min_face=MIN_EVAL_FACE) if threshold is None else threshold
    res = evaluate(dets, gts, thr, min_face=MIN_EVAL_FACE)
    model.train()
    return res


def cpu_state(model):
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.resume:
        last = args.out / "last.pt"
        if not last.is_file():
            raise SystemExit(f"{last}: nothing to resume")
        saved = {"score_loss": "focal", **torch.load(last, map_location="cpu")["args"]}  # runs before --score-loss
        given = vars(args)
        for k, v in saved.items():
            if k in ("resume", "out"):
                continue
            if k not in RESUMABLE or (k == "data" and given.get(k) is None):
                given[k] = Path(v) if k in ("data", "out") else v
    if args.data is None:
        args.data = Path("data/detector")
    if args.size % 32:
        raise SystemExit(f"--size: expected a multiple of 32 but received {args.size}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train = load_split(args.data, "train", args.limit)
    val = load_split(args.data, "val", args.val_limit)
    faces300w = [it for it in train if it.source == "face300w" and len(it.boxes) == 1]
    bgs = backgrounds()
    model = FaceDetector(width=args.width, neck=args.neck)
    if args.init and not args.resume:
        init = torch.load(args.init, map_location="cpu")
        if init.get("config") != model.config:
            raise SystemExit(f"--init {args.init}: its network {init.get('config')} is not {model.config}")
        model.load_state_dict(init["model"])
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=args.lr_patience,
                                                       min_lr=args.min_lr)
    run = SimpleRun(args.out, LOG_FIELDS)
    start, best = run.start(args.resume, model, opt, sched, rng, -math.inf)
    wait, best_epoch = 0, 0
    if args.resume:
        ckpt = torch.load(args.out / "last.pt", map_location="cpu")
        wait, best_epoch = ckpt["early_stopping"]["wait"], ckpt["early_stopping"]["best_epoch"]
    info = {"parameters": count_parameters(model), "train_photos": len(train), "val_photos": len(val),
            "collage_faces": len(faces300w), "backgrounds": len(bgs), "torch": torch.__version__,
            "threads": args.threads}
    (args.out / "run.json").write_text(json.dumps({"args": {k: str(v) if isinstance(v, Path) else v
                                                            for k, v in vars(args).items()}, **info}, indent=2) + "\n")
    if not args.quiet:
        print(f"detector width {args.width} neck {args.neck}: {info['parameters']:,} parameters; {len(train)} "
              f"training photos ({len(faces300w)} face300w faces for collages, {len(bgs)} backgrounds), "
              f"{len(val)} val photos; {args.threads} threads", file=sys.stderr, flush=True)
    if wait and args.patience and wait >= args.patience:
        print(f"stopped early before (no better val AP for {wait} epochs): give a larger --patience", file=sys.stderr)
        return 0
    for epoch in range(start, args.epochs + 1):
        t0 = time.time()
        model.train()
        sums = np.zeros(4)
        for step in range(args.steps):
            x, targets = make_batch(train, faces300w, bgs, args.size, args.batch_size, rng, args.collage)
            raw, points, strides = flatten_outputs(model(torch.from_numpy(x)))
            terms = detection_loss(raw, points, strides, targets, args.score_loss)
            opt.zero_grad()
            terms[0].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sums += np.array([float(t) for t in terms])
        loss, sl, bl, kl = sums / args.steps
        res = validate(model, val, long_side=args.val_long_side)
        score = res["ap"]
        sched.step(score)
        is_best = score > best
        if is_best:
            best, best_epoch, wait = score, epoch, 0
        else:
            wait += 1
        row = {"epoch": epoch, "lr": f"{opt.param_groups[0]['lr']:.3g}", "loss": f"{loss:.4f}",
               "score_loss": f"{sl:.4f}", "box_loss": f"{bl:.4f}", "kps_loss": f"{kl:.4f}",
               "val_ap": f"{res['ap']:.4f}", "val_ap50": f"{res['ap50']:.4f}", "val_recall": f"{res['recall']:.4f}",
               "val_precision": f"{res['precision']:.4f}", "val_f1": f"{res['f1']:.4f}",
               "val_threshold": f"{res['threshold']:.2f}", "seconds": f"{time.time() - t0:.1f}"}
        run.log.append(row)
        payload = {"format": FORMAT, "config": model.config, "model": cpu_state(model), "epoch": epoch,
                   "threshold": res["threshold"], "val": res,
                   "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                   "early_stopping": {"wait": wait, "best_epoch": best_epoch, "best": best}}
        run.save(payload, opt, sched, rng, best, is_best)
        if not args.quiet:
            print(f"epoch {epoch}: loss {loss:.4f} (score {sl:.4f}, box {bl:.4f}, kps {kl:.4f})  val AP@0.4 "
                  f"{res['ap']:.4f} AP@0.5 {res['ap50']:.4f}, at {res['threshold']:.2f}: recall {res['recall']:.4f} "
                  f"precision {res['precision']:.4f}{'  *best*' if is_best else ''}  ({time.time() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
        if args.patience and wait >= args.patience:
            if not args.quiet:
                print(f"early stop: no better val AP for {wait} epochs (best epoch {best_epoch})", file=sys.stderr)
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
