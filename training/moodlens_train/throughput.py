"""Measures training throughput (faces per second) of full training steps on real faces: batch augmentation,
forward, backward and the Adam step, exactly as ``train`` runs them. Nothing is written.

    python -m moodlens_train.throughput --data /data/fer2013/train --arch dense_xception --threads 2 --seconds 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import sys
import time
from typing import Optional, Sequence

import torch

from .defaults import TRAIN_DEFAULTS as D
from .defaults import cpu_threads


def measure(args: argparse.Namespace) -> dict:
    from .train import Trainer, build_parser

    train_args = build_parser().parse_args([
        "--data", args.data, "--val", args.val or args.data, "--limit", str(args.limit), "--val-limit", "64",
        "--arch", args.arch, "--batch-size", str(args.batch_size), "--threads", str(args.threads or cpu_threads()),
        "--device", args.device, "--out", args.scratch, "--quiet", *args.extra,
    ])
    trainer = Trainer(train_args, log=lambda *a: None)
    trainer.args.epochs = 1
    model, opt = trainer.model, trainer.optimizer
    steps, faces, t0 = 0, 0, None
    n = trainer.train_x.shape[0]
    from .augment import augment, soft_cross_entropy, soft_targets

    while True:
        idx = torch.randint(0, n, (args.batch_size,), generator=trainer.gen).to(trainer.device)
        x = augment(trainer.train_x[idx].unsqueeze(1).float().div_(255.0), trainer.aug, trainer.gen)
        if trainer.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = soft_cross_entropy(model(x), soft_targets(trainer.train_y[idx], 7, 0.1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        steps += 1
        if steps == args.warmup:
            t0 = time.time()
        elif t0 is not None:
            faces += args.batch_size
            if time.time() - t0 >= args.seconds:
                break
    seconds = time.time() - t0
    return {"arch": args.arch, "params": trainer.summary.params, "mflops": trainer.summary.mflops,
            "threads": torch.get_num_threads(), "device": str(trainer.device), "batch_size": args.batch_size,
            "faces": faces, "seconds": seconds, "faces_per_second": faces / seconds}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m moodlens_train.throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="training faces (folder or CSV)")
    p.add_argument("--val", default=None)
    p.add_argument("--arch", default=D["arch"])
    p.add_argument("--batch-size", type=int, default=D["batch_size"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--warmup", type=int, default=2, help="steps before timing starts")
    p.add_argument("--limit", type=int, default=2048, help="faces to load")
    p.add_argument("--scratch", default=os.path.join(tempfile.gettempdir(), "moodlens-throughput"),
                   help="an empty run folder the trainer may create (nothing is written in it)")
    p.add_argument("extra", nargs="*", help="further train flags after --, e.g. -- --growth 24")
    args = p.parse_args(argv)
    r = measure(args)
    print(f"{r['arch']}: {r['faces_per_second']:.0f} faces/s training ({r['faces']} faces in {r['seconds']:.1f} s, "
          f"batch {r['batch_size']}, {r['threads']} threads, {r['device']}; {r['params']:,} params, "
          f"{r['mflops']:.1f} MFLOPs/face)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
