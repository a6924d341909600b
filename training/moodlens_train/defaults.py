"""Every training default in one place (``train --help`` prints them; README.md documents them).

Chosen for accuracy on FER-2013 PublicTest with a long run, within what two CPU cores can train.
"""

from __future__ import annotations

import argparse
import os

import torch

from .models import DENSE_DEFAULTS


def eval_batch_size(device_type: str, requested=None) -> int:
    """Inference batch: 64 on CPU (cache-friendly: 2-4x faster than 512 there), 512 on a GPU."""
    if requested:
        return int(requested)
    return 64 if device_type == "cpu" else 512


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when this torch sees one) or a torch device name; a clear error for CUDA without CUDA."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available to this torch ({torch.__version__})")
    return device


def cpu_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


TRAIN_DEFAULTS = {
    # model
    "arch": "dense_xception",
    "width": None,  # per arch: DENSE_DEFAULTS["width"] (16) for dense_xception, RESNET_WIDTH (64) for resnet
    "growth": DENSE_DEFAULTS["growth"],
    "layers": ",".join(str(n) for n in DENSE_DEFAULTS["layers"]),  # type: ignore[union-attr]
    "compression": DENSE_DEFAULTS["compression"],
    "scaling": "v1",  # pixels / 255; v2: [-1, 1]
    # optimisation
    "epochs": 150,
    "batch_size": 64,
    "lr": 1e-3,  # Adam
    "weight_decay": 1e-4,  # L2 on conv weights (not BN or biases), added to the gradient as Keras' l2() does
    "label_smoothing": 0.1,
    "class_weights": "none",  # none | balanced | sqrt
    "mixup": 0.0,  # Beta(alpha, alpha); 0 = off
    "schedule": "plateau",  # ReduceLROnPlateau as the paper's Keras callbacks; cosine for long GPU runs
    "warmup": 0,  # cosine only: epochs of linear warm-up
    # distillation (only with --teacher)
    "kd_weight": 0.7,
    "kd_temperature": 3.0,
    # augmentation (Keras ImageDataGenerator of the mini-Xception training)
    "rotation": 10.0,
    "shift": 0.1,
    "zoom": 0.1,
    "flip": True,
    "erase": 0.25,  # random erasing probability per face; 0 = off
    # callbacks
    "monitor": "val_acc",  # for the best checkpoint, early stopping and ReduceLROnPlateau
    "patience": 30,  # early stopping; 0 = never stop early
    "lr_factor": 0.3,
    "lr_patience": 8,
    "min_lr": 1e-6,
    # run
    "seed": 1,
    "threads": None,  # None: every CPU core this process may use
    "device": "auto",  # cuda when available, else cpu
    "val_batch_size": None,  # None: 64 on CPU (larger batches are slower there), 512 on a GPU
}


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to every flag that has a real default (not None / False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if action.option_strings and default is not None and default is not False and default != argparse.SUPPRESS \
                and "%(default)" not in text:
            text += (" " if text else "") + "(default: %(default)s)"
        return text
