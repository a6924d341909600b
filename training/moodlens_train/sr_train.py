"""Trains FSRNet on FER-2013 training faces (teacher landmarks give the priors); selects on PublicTest.

    python -m moodlens_train.sr_train --train labels/fer-train.npz --val labels/fer-val.npz --out runs/fsrnet

Loss (as the paper): MSE of the coarse and of the fine face against the original, plus the prior losses: MSE of
the landmark heatmaps and cross-entropy of the parsing maps (weights --heatmap-weight, --parsing-weight).
`--no-priors` trains the paper's ablation (no prior branch). `--emotion CKPT` adds an emotion loss (a
perceptual loss whose "perception" is the frozen emotion classifier): the KL divergence from its class
probabilities on the original face to those on the restored one, weighted by --emotion-weight. Adam with
cosine decay; best.pt by the mean PSNR over x2 and x4 on --val-limit PublicTest faces (`--select emotion`: by
the classifier's mean accuracy on the restored faces instead); `--init` starts from another run's weights;
`--resume` continues from OUT/last.pt.

On a GPU (`--device auto` takes CUDA when there is one) the model is cheap and building the degraded batches
is the limit: `--workers N` builds them in N DataLoader worker processes (each with its own random stream, so
a run is reproducible for a given N; a resumed run restarts the streams from its epoch); `--amp` runs the
forward pass in bfloat16 autocast (CUDA only). Checkpoints hold CPU tensors: they load without a GPU.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .callbacks import SimpleRun
from .defaults import resolve_device
from .sr_data import Degradation, WorkerBatches, batch_stream, evaluation_inputs, psnr, to_device
from .sr_degrade import round_half_up
from .sr_model import FSRNet, count_parameters

FORMAT = 'moodlens-fsrnet/1'
LOG_FIELDS = ('epoch', 'lr', 'loss', 'pixel_loss', 'prior_loss', 'emotion_loss', 'val_psnr_x2', 'val_psnr_x4',
              'val_acc_x2', 'val_acc_x4', 'seconds')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--train', type=Path, required=True, help='teacher-labelled FER-2013 training faces (.npz)')
    p.add_argument('--val', type=Path, required=True, help='teacher-labelled PublicTest faces (.npz)')
    p.add_argument('--val-limit', type=int, default=600)
    p.add_argument('--limit', type=int, help='first N training faces only')
    p.add_argument('--out', type=Path, default=Path('runs/fsrnet'))
    p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--steps', type=int, help='batches per epoch (default: one pass over the faces)')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--width', type=int, default=32)
    p.add_argument('--blocks', type=int, default=3)
    p.add_argument('--factors', default='2,2,3,4,4',
                   help='degradation factors to train on, each drawn as often as it is listed (default 2,2,3,4,4: '
                        'x2, x3, x4 40/20/40%%; 4: a x4-only model)')
    p.add_argument('--no-priors', action='store_true', help='the ablation: no prior estimation branch')
    p.add_argument('--heatmap-weight', type=float, default=1.0)
    p.add_argument('--parsing-weight', type=float, default=0.01)
    p.add_argument('--emotion', type=Path, help='emotion classifier checkpoint (.pt) for the emotion loss')
    p.add_argument('--emotion-weight', type=float, default=0.02)
    p.add_argument('--select', choices=('psnr', 'emotion'), default='psnr')
    p.add_argument('--init', type=Path, help="start from this FSRNet checkpoint's weights (fresh optimizer)")
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--threads', type=int, default=1, help='torch threads of the main process')
    p.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto', help='auto: CUDA when available')
    p.add_argument('--workers', type=int, default=0,
                   help='processes that build the training batches (0: the main process, between steps)')
    p.add_argument('--amp', action='store_true', help='bfloat16 autocast for the training pass (CUDA only)')
    p.add_argument('--resume', action='store_true')
    p.add_argument('--quiet', action='store_true')
    return p


def losses(model: FSRNet, x, y, heat, parse, args, classifier=None):
    coarse, fine, h, p = model(x)
    pixel = F.mse_loss(coarse, y) + F.mse_loss(fine, y)
    prior = torch.zeros((), device=x.device)
    if model.use_priors:
        prior = args.heatmap_weight * F.mse_loss(h, heat) + args.parsing_weight * F.cross_entropy(p, parse)
    emotion = torch.zeros((), device=x.device)
    if classifier is not None:
        with torch.no_grad():
            target = torch.softmax(classifier(y), dim=1)
        emotion = F.kl_div(torch.log_softmax(classifier(fine), dim=1), target, reduction='batchmean')
    return pixel + prior + args.emotion_weight * emotion, pixel, prior, emotion


def frozen_classifier(path: Path):
    from .evaluate import load_model_from_checkpoint
    model, ckpt = load_model_from_checkpoint(path, torch.device('cpu'))
    if ckpt['config'].get('scaling', 'v1') != 'v1':
        raise SystemExit(f'{path}: the emotion loss expects a classifier on [0, 1] inputs (scaling v1)')
    for q in model.parameters():
        q.requires_grad_(False)
    return model.eval()


def model_input(faces_u8: np.ndarray, model: torch.nn.Module) -> torch.Tensor:
    """uint8 (N, 48, 48) -> float (N, 1, 48, 48) in [0, 1] on the model's device."""
    x = torch.from_numpy(faces_u8[:, None].astype(np.float32) / 255.0)
    return x.to(next(model.parameters()).device)


@torch.no_grad()
def accuracy(classifier, faces_u8: np.ndarray, labels: np.ndarray) -> float:
    import cv2
    eq = np.stack([cv2.equalizeHist(f) for f in faces_u8])
    return float((classifier(model_input(eq, classifier)).argmax(1).cpu().numpy() == labels).mean())


@torch.no_grad()
def enhance(model: FSRNet, inputs_u8: np.ndarray, batch: int = 256, flip: bool = False) -> np.ndarray:
    """uint8 (N, 48, 48) model inputs -> uint8 restored faces (rounded half up, as the TypeScript side).

    `flip`: the mean of the restored face and the restored mirror image mirrored back (the self-ensemble of SR
    papers; a face's left and right halves are alike, so the two guesses differ mostly in invented detail)."""
    model.eval()
    out = []
    for s in range(0, len(inputs_u8), batch):
        x = model_input(inputs_u8[s:s + batch], model)
        y = model(x)[1]
        if flip:
            y = (y + torch.flip(model(torch.flip(x, [3]))[1], [3])) / 2
        out.append(torch.clamp(y, 0, 1)[:, 0].cpu().numpy())
    return round_half_up(np.concatenate(out) * 255.0)


def training_batches(images, points, args, deg: Degradation, rng: np.random.Generator, epoch: int,
                     device: torch.device):
    """Endless training batches: built between steps from the run's own generator (restored by --resume), or
    by --workers processes that keep a few batches ready (pinned for a fast copy to the GPU)."""
    if args.workers == 0:
        return batch_stream(images, points, args.batch_size, deg, rng)
    data = WorkerBatches(images, points, args.batch_size, deg, args.seed, epoch)
    return iter(torch.utils.data.DataLoader(data, batch_size=None, num_workers=args.workers,
                                            pin_memory=device.type == 'cuda', prefetch_factor=4))


def cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def load_faces(path: Path, limit=None):
    data = np.load(path)
    n = len(data['image']) if limit is None else min(limit, len(data['image']))
    return data['image'][:n], data['points'][:n].astype(np.float32), data['emotion'][:n]


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        deg = Degradation.for_factors(int(f) for f in args.factors.split(','))
    except ValueError as error:
        raise SystemExit(f'--factors: {error}') from None
    # selection looks at the evaluated factors (x2, x4) the model is trained for; both if it is trained for neither
    selected = [f for f in (2, 4) if f in deg.factors] or [2, 4]
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if args.amp and device.type != 'cuda':
        raise SystemExit('--amp is for CUDA (bfloat16 autocast); this run is on the CPU')
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest convolutions once
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    images, points, _ = load_faces(args.train, args.limit)
    val_images, _, val_emotions = load_faces(args.val)
    pick = np.linspace(0, len(val_images) - 1, min(args.val_limit, len(val_images))).astype(int)
    val_hr, val_labels = val_images[pick], val_emotions[pick]
    classifier = frozen_classifier(args.emotion).to(device) if args.emotion else None
    if args.select == 'emotion' and classifier is None:
        raise SystemExit('--select emotion needs --emotion (the classifier that measures it)')
    val_in = {f: evaluation_inputs(val_hr, f) for f in (2, 4)}
    model = FSRNet(width=args.width, priors=not args.no_priors, blocks=args.blocks)
    if args.init and not args.resume:
        init = torch.load(args.init, map_location='cpu')
        model.load_state_dict(init['model'])
        print(f'weights from {args.init} (epoch {init["epoch"]})', file=sys.stderr)
    model.to(device)  # before the optimizer is made, so that its state lives beside the weights
    steps = args.steps or len(images) // args.batch_size
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    total = args.epochs * steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    out = args.out
    run = SimpleRun(out, LOG_FIELDS)
    start_epoch, best = run.start(args.resume, model, opt, sched, rng, -math.inf)
    if not args.quiet:
        print(f'FSRNet width {args.width}, priors {not args.no_priors}: {count_parameters(model):,} parameters; '
              f'{len(images)} training faces, {len(val_hr)} PublicTest faces for selection; on {device}, '
              f'{args.workers} batch workers', file=sys.stderr)
    config = {'width': args.width, 'blocks': args.blocks, 'priors': not args.no_priors,
              'factors': list(deg.factors), 'factor_p': [round(p, 4) for p in deg.factor_p]}
    if classifier is not None:
        classifier.eval()  # stays in eval mode (batch-norm statistics frozen) while the SR net trains
    batches = training_batches(images, points, args, deg, rng, start_epoch, device)
    for epoch in range(start_epoch, args.epochs + 1):
        t0 = time.time()
        model.train()
        # loss sums stay on the device: reading them every step would make the CPU wait for the GPU each time
        sums = torch.zeros(4, device=device)
        for step in range(steps):
            x, y, h, p = to_device(next(batches), device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
                terms = losses(model, x, y, h, p, args, classifier)
            opt.zero_grad()
            terms[0].backward()
            opt.step()
            sched.step()
            sums += torch.stack(terms).detach().float()
            if not args.quiet and step % 50 == 0:
                print(f'\r  epoch {epoch} step {step}/{steps} loss {sums[0].item() / (step + 1):.5f}', end='',
                      file=sys.stderr, flush=True)
        tot, pix, pri, emo = (sums / steps).tolist()
        restored = {f: enhance(model, val_in[f]) for f in (2, 4)}
        val = {f: float(psnr(restored[f], val_hr).mean()) for f in (2, 4)}
        acc = {f: accuracy(classifier, restored[f], val_labels) if classifier else math.nan for f in (2, 4)}
        score = float(np.mean([(acc if args.select == 'emotion' else val)[f] for f in selected]))
        row = {'epoch': epoch, 'lr': f'{sched.get_last_lr()[0]:.3g}', 'loss': f'{tot:.5f}', 'pixel_loss': f'{pix:.5f}',
               'prior_loss': f'{pri:.5f}', 'emotion_loss': f'{emo:.5f}', 'val_psnr_x2': f'{val[2]:.3f}',
               'val_psnr_x4': f'{val[4]:.3f}', 'val_acc_x2': f'{acc[2]:.4f}', 'val_acc_x4': f'{acc[4]:.4f}',
               'seconds': f'{time.time() - t0:.1f}'}
        run.log.append(row)
        payload = {'format': FORMAT, 'config': config, 'model': cpu_state(model), 'epoch': epoch,
                   'val_psnr_x2': val[2], 'val_psnr_x4': val[4], 'val_acc_x2': acc[2], 'val_acc_x4': acc[4],
                   'selected_by': args.select, 'emotion_weight': args.emotion_weight if classifier else 0.0}
        is_best = score > best
        best = score if is_best else best
        run.save(payload, opt, sched, rng, best, is_best)
        if not args.quiet:
            print(f'\repoch {epoch}: loss {tot:.5f} (pixel {pix:.5f}, prior {pri:.5f}, emotion {emo:.4f})  '
                  f'PublicTest PSNR x2 {val[2]:.2f} dB, x4 {val[4]:.2f} dB; accuracy x2 {acc[2]:.4f}, '
                  f'x4 {acc[4]:.4f}  ({time.time() - t0:.0f} s)', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
