"""Batch augmentation and the loss helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from moodlens_train.augment import (
    AugmentConfig,
    augment,
    class_weights,
    mixup,
    random_affine,
    random_erase,
    soft_cross_entropy,
    soft_targets,
)


def gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def faces(n=8):
    return torch.rand(n, 1, 48, 48, generator=gen(1))


def test_zero_ranges_are_the_identity():
    x = faces()
    out = random_affine(x, AugmentConfig(rotation=0, shift=0, zoom=0, flip=False), gen())
    assert torch.allclose(out, x, atol=1e-5)


def test_flip_only_mirrors_some_faces():
    x = faces(32)
    out = random_affine(x, AugmentConfig(rotation=0, shift=0, zoom=0, flip=True), gen())
    same = torch.isclose(out, x, atol=1e-5).flatten(1).all(1)
    mirrored = torch.isclose(out, x.flip(-1), atol=1e-5).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 4 <= int(mirrored.sum()) <= 28


def test_shift_moves_content_by_up_to_a_tenth():
    x = torch.zeros(64, 1, 48, 48)
    x[:, :, 20:28, 20:28] = 1.0
    out = random_affine(x, AugmentConfig(rotation=0, shift=0.1, zoom=0, flip=False), gen())
    ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    cy = (out[:, 0] * ys).sum((1, 2)) / out[:, 0].sum((1, 2))
    cx = (out[:, 0] * xs).sum((1, 2)) / out[:, 0].sum((1, 2))
    assert float((cy - 23.5).abs().max()) <= 4.8 + 0.3 and float((cx - 23.5).abs().max()) <= 4.8 + 0.3
    assert float((cx - 23.5).abs().max()) > 2.0  # it does move


def test_keras_defaults_are_reproducible_and_bounded():
    x = faces()
    cfg = AugmentConfig()
    a = augment(x, cfg, gen(5))
    b = augment(x, cfg, gen(5))
    c = augment(x, cfg, gen(6))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0  # bilinear + border replication stays in range


def test_random_erasing():
    x = torch.full((16, 1, 48, 48), 0.5)
    assert torch.equal(random_erase(x, AugmentConfig(erase=0.0), gen()), x)
    out = random_erase(x, AugmentConfig(erase=1.0), gen())
    changed = (out != x).flatten(1).float().mean(1)
    assert bool((changed > 0.005).all()) and bool((changed < 0.3).all())


def test_soft_cross_entropy_matches_pytorch():
    logits = torch.randn(10, 7, generator=gen(2))
    y = torch.randint(0, 7, (10,), generator=gen(3))
    w = torch.rand(7, generator=gen(4)) + 0.5
    hard = soft_targets(y, 7, 0.0)
    assert torch.allclose(soft_cross_entropy(logits, hard), F.cross_entropy(logits, y))
    assert torch.allclose(soft_cross_entropy(logits, hard, w), F.cross_entropy(logits, y, weight=w))
    smooth = soft_targets(y, 7, 0.1)
    assert torch.allclose(smooth.sum(1), torch.ones(10))
    assert torch.allclose(soft_cross_entropy(logits, smooth), F.cross_entropy(logits, y, label_smoothing=0.1))


def test_mixup_mixes_inputs_and_targets_alike():
    x = faces(6)
    t = soft_targets(torch.arange(6) % 7, 7, 0.0)
    mx, mt, lam = mixup(x, t, 0.4, gen())
    assert 0.0 <= lam <= 1.0
    assert torch.allclose(mt.sum(1), torch.ones(6))
    assert mx.shape == x.shape


def test_class_weights():
    counts = np.array([3995, 436, 4097, 7215, 4830, 3171, 4965])
    assert class_weights(counts, "none") is None
    w = class_weights(counts, "balanced")
    assert math.isclose(float((w * torch.tensor(counts, dtype=torch.float32)).sum()), counts.sum(), rel_tol=1e-5)
    assert int(w.argmax()) == 1 and int(w.argmin()) == 3  # disgust up, happy down
    s = class_weights(counts, "sqrt")
    assert float(s.max() / s.min()) < float(w.max() / w.min())
    with pytest.raises(ValueError, match="expected none, balanced or sqrt"):
        class_weights(counts, "inverse")
