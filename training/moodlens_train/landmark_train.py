"""Trains the landmark student on human-labelled face300w crops and dlib-teacher-labelled FER-2013 faces.

    python -m moodlens_train.landmark_train --face300w labels/face300w.npz --fer labels/fer-train.npz \\
        --val labels/fer-val.npz --out runs/landmarks-v1

Every batch mixes both sources (`--human-share`). The best checkpoint is chosen by the NME against the teacher
on PublicTest faces (`--val`); the held-out tenth of face300w is only measured, never selected on. `--resume`
continues from the run folder's last.pt (model, optimizer, schedule, random state).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .callbacks import SimpleRun
from .landmark_data import (FLIP_PERMUTATION, Augment, LandmarkSet, augmented_crop, face300w_split,
                            from_crop_units, nme, run_time_crop, scaled_margin, to_crop_units)
from .landmark_model import CROP_SIZE, LandmarkNet, count_parameters

FORMAT = 'moodlens-landmarks/1'
LOG_FIELDS = ('epoch', 'lr', 'train_loss', 'val_nme_teacher', 'val_nme_human', 'heldout_nme_human', 'seconds')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--face300w', type=Path, required=True, help='face300w labels (.npz from landmark_labels)')
    p.add_argument('--fer', type=Path, required=True, help='teacher-labelled FER-2013 training faces (.npz)')
    p.add_argument('--val', type=Path, required=True, help='teacher-labelled PublicTest faces (.npz): selection')
    p.add_argument('--val-limit', type=int, default=1000, help='PublicTest faces used per epoch (default 1000)')
    p.add_argument('--fer-limit', type=int, help='first N teacher-labelled training faces only')
    p.add_argument('--out', type=Path, default=Path('runs/landmarks'))
    p.add_argument('--epochs', type=int, default=30)
    p.add_argument('--steps', type=int, default=300, help='batches per epoch')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--human-share', type=float, default=0.4, help='share of each batch from face300w')
    p.add_argument('--lr', type=float, default=2e-3, help='Adam; cosine decay to 1%% over the epochs')
    p.add_argument('--width', type=int, default=32)
    p.add_argument('--crop-size', type=int, default=CROP_SIZE, help=f'input crop side (default {CROP_SIZE})')
    p.add_argument('--heatmap', type=int, help='heatmap side: a quarter (default) or a half of the crop side')
    p.add_argument('--rotation', type=float, default=30.0)
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--resume', action='store_true', help='continue from OUT/last.pt')
    p.add_argument('--init', type=Path, help='start from the weights of this checkpoint (fine-tuning; fresh optimizer)')
    p.add_argument('--select', choices=('teacher', 'human'), default='teacher',
                   help='choose best.pt by NME vs the teacher on PublicTest (default) or vs the human labels of '
                        '--human-val face300w training faces set aside for it (never the held-out tenth)')
    p.add_argument('--human-val', type=int, default=60,
                   help='with --select human: face300w training faces set aside for selection (default 60)')
    p.add_argument('--quiet', action='store_true')
    return p


def batch_from(sets, counts, aug, rng, size: int = CROP_SIZE):
    crops, targets = [], []
    for s, k in zip(sets, counts):
        for i in rng.integers(0, len(s), size=k):
            c, u = augmented_crop(s.images[i], s.boxes[i], s.points[i], aug, rng, size)
            crops.append(c)
            targets.append(u)
    x = torch.from_numpy(np.stack(crops)[:, None].astype(np.float32) / 255.0)
    return x, torch.from_numpy(np.stack(targets))


def flip_tta(model, x: torch.Tensor) -> np.ndarray:
    """Points in crop units averaged with those of the mirrored crops (as the TypeScript detector's flipTta)."""
    mirrored = model(torch.flip(x, [3])).numpy()[:, FLIP_PERMUTATION]
    mirrored[..., 0] = 1 - mirrored[..., 0]
    return (model(x).numpy() + mirrored) / 2


@torch.no_grad()
def predict(model, faces: LandmarkSet, batch: int = 256, tta: bool = False, scales=(1.0,)) -> np.ndarray:
    """Points in source pixels for every face, from the run-time crop of its Haar box (`tta`: flip TTA;
    `scales`: crops of these sides relative to the run-time one, averaged in source pixels, as the
    TypeScript detector's crop-scale TTA)."""
    model.eval()
    out = []
    for start in range(0, len(faces), batch):
        total = None
        for scale in scales:
            crops, squares = [], []
            for i in range(start, min(start + batch, len(faces))):
                c, sq = run_time_crop(faces.images[i], faces.boxes[i], model.crop_size, scaled_margin(scale))
                crops.append(c)
                squares.append(sq)
            x = torch.from_numpy(np.stack(crops)[:, None].astype(np.float32) / 255.0)
            units = flip_tta(model, x) if tta else model(x).numpy()
            pts = np.stack([from_crop_units(u, sq) for u, sq in zip(units, squares)])
            total = pts if total is None else total + pts
        out.append(total / len(scales))
    return np.concatenate(out)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_idx, held_idx = face300w_split(args.face300w)
    human_val = None
    if args.select == 'human':
        # Every k-th training face, so the selection faces span the same people and poses as training.
        pick_val = train_idx[np.linspace(0, len(train_idx) - 1, args.human_val).astype(int)]
        human_val = LandmarkSet(args.face300w, pick_val)
        train_idx = np.setdiff1d(train_idx, pick_val)
    human = LandmarkSet(args.face300w, train_idx)
    heldout = LandmarkSet(args.face300w, held_idx)
    fer = LandmarkSet(args.fer, np.arange(args.fer_limit) if args.fer_limit else None)
    val_all = LandmarkSet(args.val)
    pick = np.linspace(0, len(val_all) - 1, min(args.val_limit, len(val_all))).astype(int)
    val = LandmarkSet(args.val, val_all.indices[pick])
    if not args.quiet:
        print(f'face300w: {len(human)} training faces, {len(heldout)} held out; FER teacher faces: {len(fer)}; '
              f'PublicTest selection faces: {len(val)}', file=sys.stderr)
    heatmap = args.heatmap or args.crop_size // 4
    model = LandmarkNet(width=args.width, heatmap=heatmap, crop_size=args.crop_size)
    if args.init and not args.resume:
        init = torch.load(args.init, map_location='cpu')
        if init['config']['width'] != args.width:
            raise SystemExit(f'--init {args.init} has width {init["config"]["width"]}, not --width {args.width}')
        # strict=False: layers the source lacks (the 32x32 decoder step) keep their fresh initialisation.
        missing, unexpected = model.load_state_dict(init['model'], strict=False)
        if unexpected:
            raise SystemExit(f'--init {args.init} has layers this model lacks: {unexpected[:3]}')
        print(f'weights from {args.init} (epoch {init["epoch"]}); new layers: {len(missing)} tensors',
              file=sys.stderr)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    total_steps = args.epochs * args.steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    aug = Augment(rotation=args.rotation)
    out = args.out
    run = SimpleRun(out, LOG_FIELDS)
    start_epoch, best = run.start(args.resume, model, opt, sched, rng, math.inf)
    if not args.quiet:
        print(f'LandmarkNet width {args.width}: {count_parameters(model):,} parameters', file=sys.stderr)
    n_human = int(round(args.batch_size * args.human_share))
    config = {'width': args.width, 'crop_size': args.crop_size, 'heatmap': heatmap}
    for epoch in range(start_epoch, args.epochs + 1):
        t0 = time.time()
        model.train()
        losses = []
        for step in range(args.steps):
            x, y = batch_from([human, fer], [n_human, args.batch_size - n_human], aug, rng, args.crop_size)
            loss = (model(x) - y).abs().mean() * args.crop_size  # L1 in crop pixels
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if not args.quiet and step % 50 == 0:
                print(f'\r  epoch {epoch} step {step}/{args.steps} loss {np.mean(losses):.3f}', end='',
                      file=sys.stderr, flush=True)
        val_nme = float(nme(predict(model, val), val.points).mean())
        held_nme = float(nme(predict(model, heldout), heldout.points).mean())
        human_nme = float(nme(predict(model, human_val), human_val.points).mean()) if human_val else math.nan
        score = human_nme if args.select == 'human' else val_nme
        row = {'epoch': epoch, 'lr': f'{sched.get_last_lr()[0]:.3g}', 'train_loss': f'{np.mean(losses):.4f}',
               'val_nme_teacher': f'{val_nme:.5f}', 'val_nme_human': f'{human_nme:.5f}',
               'heldout_nme_human': f'{held_nme:.5f}',
               'seconds': f'{time.time() - t0:.1f}'}
        run.log.append(row)
        payload = {'format': FORMAT, 'config': config, 'model': model.state_dict(), 'epoch': epoch,
                   'val_nme_teacher': val_nme, 'val_nme_human': human_nme, 'heldout_nme_human': held_nme,
                   'selected_by': args.select}
        is_best = score < best
        best = score if is_best else best
        run.save(payload, opt, sched, rng, best, is_best)
        if not args.quiet:
            print(f'\repoch {epoch}: loss {np.mean(losses):.3f}  PublicTest NME vs teacher {val_nme:.4f}  '
                  f'held-out face300w NME vs human {held_nme:.4f}  ({time.time() - t0:.0f} s)', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
