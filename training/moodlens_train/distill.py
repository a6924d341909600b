"""Knowledge distillation: frozen teacher classifiers give soft labels that a small student learns from.

The teachers (any trained checkpoints, typically large ``resnet`` models trained on a GPU) see the very batch the
student sees, after augmentation and mixup, and each also its mirror image; their logits are averaged. The student
then minimises ``(1 - w) * cross-entropy(labels) + w * T^2 * KL(teacher_T || student_T)`` (Hinton et al. 2015:
``T^2`` keeps the gradient scale of the soft term independent of the temperature).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .data import rescale_unit
from .evaluate import load_model_from_checkpoint


class Teachers:
    """Frozen classifiers in eval mode; ``logits(x01)`` takes faces in [0, 1] and scales them per teacher."""

    def __init__(self, paths: Sequence[str], device: torch.device, channels_last: bool = False):
        if not paths:
            raise ValueError("Teachers: expected at least one checkpoint")
        self.channels_last = channels_last  # as the student: on the CPU several times faster
        self.members: List[Tuple[nn.Module, str]] = []
        self.descriptions: List[str] = []
        for path in paths:
            if not Path(path).is_file():
                raise FileNotFoundError(f"--teacher: no checkpoint at {path}")
            model, ckpt = load_model_from_checkpoint(path, device)
            for p in model.parameters():
                p.requires_grad_(False)
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            self.members.append((model, str(ckpt.get("scaling", "v1"))))
            self.descriptions.append(
                f"{path}: {ckpt['config']['arch']} epoch {ckpt.get('epoch')} val_acc {float(ckpt.get('val_acc', 0)):.4f}"
            )

    @torch.no_grad()
    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        total = None
        count = 0
        for model, scaling in self.members:
            x = rescale_unit(x01, scaling)
            for view in (x, torch.flip(x, [3])):
                if self.channels_last:
                    view = view.contiguous(memory_format=torch.channels_last)
                y = model(view).float()
                total = y if total is None else total + y
                count += 1
        assert total is not None
        return total / count


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, mean over the batch."""
    t = float(temperature)
    target = F.softmax(teacher.float() / t, dim=1)
    return F.kl_div(F.log_softmax(student.float() / t, dim=1), target, reduction="batchmean") * (t * t)
