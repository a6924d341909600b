"""Knowledge distillation: frozen teacher classifiers give soft labels that a small student learns from.

The teachers (any trained checkpoints, typically large ``resnet`` models trained on a GPU) see the very batch the
student sees, after augmentation and mixup, and each also its mirror image; their logits are averaged. The student
then minimises ``(1 - w) * cross-entropy(labels) + w * T^2 * KL(teacher_T || student_T)`` (Hinton et al. 2015:
``T^2`` keeps the gradient scale of the soft term independent of the temperature).

Offline, with ``--teacher-logits FILE``, the teachers run once over the unaugmented training faces (each with its
mirror) and the student learns from those cached logits whatever augmentation it sees: on two CPU cores the
teachers' forward passes cost two to five times the student's own step (an epoch of the dense student: 45 s
alone, about 155 s with three teachers online), at the price of targets that do not follow the augmentation,
which measured worse (training/README.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
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


TEACHER_LOGITS_FORMAT = "moodlens-teacher-logits/1"


@torch.no_grad()
def teacher_logits_for(teachers: Teachers, images: np.ndarray, device: torch.device, batch_size: int = 256,
                       progress: Optional[Callable[[int, int], None]] = None) -> np.ndarray:
    """The teachers' averaged logits (each face and its mirror) for uint8 faces [N, 48, 48]: float32 [N, 7]."""
    out = []
    for start in range(0, len(images), batch_size):
        x01 = torch.from_numpy(images[start:start + batch_size]).to(device).unsqueeze(1).float().div_(255.0)
        out.append(teachers.logits(x01).cpu().numpy().astype(np.float32))
        if progress:
            progress(min(start + batch_size, len(images)), len(images))
    return np.concatenate(out) if out else np.zeros((0, 7), np.float32)


def _fingerprint(images: np.ndarray) -> np.ndarray:
    """Per-face pixel sums: ties a logits file to the very faces, in order, that it was computed for."""
    return images.reshape(len(images), -1).astype(np.int64).sum(axis=1)


def cached_teacher_logits(path: str, teacher_paths: Optional[Sequence[str]], images: np.ndarray, labels: np.ndarray,
                          device: torch.device, channels_last: bool = False, log=print,
                          progress: Optional[Callable[[int, int], None]] = None) -> np.ndarray:
    """The teachers' logits for the training faces from ``path``, or computed from ``teacher_paths`` and written
    there first. Raises ValueError when the file belongs to other faces (another set, order or --limit) or to
    other teachers, and when there is neither a file nor a teacher."""
    file = Path(path)
    if file.is_file():
        with np.load(file, allow_pickle=False) as z:
            if str(z["format"]) != TEACHER_LOGITS_FORMAT:
                raise ValueError(f"--teacher-logits {path}: not a MoodLens teacher-logits file")
            logits, sums, stored_labels = z["logits"], z["pixel_sums"], z["labels"]
            stored_teachers = [str(t) for t in z["teachers"]]
        if len(logits) != len(images) or not np.array_equal(sums, _fingerprint(images)) \
                or not np.array_equal(stored_labels, labels):
            raise ValueError(f"--teacher-logits {path}: computed for other training faces ({len(logits)} faces, not "
                             f"these {len(images)} in this order): delete it or name another file")
        if teacher_paths and list(teacher_paths) != stored_teachers:
            raise ValueError(f"--teacher-logits {path}: computed from {stored_teachers}, not the --teacher "
                             f"checkpoints given: delete it or name another file")
        log(f"teacher logits: {path} ({len(logits)} faces, from {', '.join(stored_teachers)})")
        return logits.astype(np.float32)
    if not teacher_paths:
        raise ValueError(f"--teacher-logits {path}: no such file, and no --teacher to compute it from")
    teachers = Teachers(teacher_paths, device, channels_last)
    for line in teachers.descriptions:
        log(f"teacher {line}")
    logits = teacher_logits_for(teachers, images, device, progress=progress)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(file.name + ".tmp.npz")
    np.savez_compressed(tmp, format=TEACHER_LOGITS_FORMAT, logits=logits, pixel_sums=_fingerprint(images),
                        labels=labels.astype(np.int64), teachers=np.array(list(teacher_paths)))
    tmp.replace(file)
    log(f"teacher logits: wrote {path} ({len(logits)} faces)")
    return logits
