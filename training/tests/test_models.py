"""Both architectures: output shape, parameter counts, compute, configuration errors, BN folding."""

from __future__ import annotations

import pytest
import torch

from moodlens_train.export import fold_batchnorm
from moodlens_train.models import (
    DENSE_DEFAULTS,
    DenseXception,
    MiniXception,
    build_model,
    count_params,
    model_config,
)
from moodlens_train.summary import summarize


@pytest.mark.parametrize("arch", ["mini_xception", "dense_xception"])
def test_forward_gives_logits_for_7_classes(arch):
    model = build_model(model_config(arch)).eval()
    for n in (1, 5):
        with torch.no_grad():
            out = model(torch.rand(n, 1, 48, 48))
        assert out.shape == (n, 7) and out.dtype == torch.float32
        assert torch.isfinite(out).all()
    model.train()
    out = model(torch.rand(4, 1, 48, 48))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_mini_xception_matches_the_published_model():
    model = MiniXception()
    params, bn_stats = count_params(model)
    # Keras' summary of oarriaga's mini_XCEPTION: 58,423 total params, 56,951 trainable.
    assert params == 56_951
    assert params + bn_stats == 58_423
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert sum(m.bias is not None for m in convs) == 1  # only the head conv (no BN after it) has a bias
    s = summarize(model)
    assert 10.5 < s.mflops < 11.5
    shapes = {r.name: r.shape for r in s.rows}
    assert shapes["stem"] == (1, 8, 44, 44) and shapes["head"] == (1, 7)
    assert [r.shape for r in s.rows if r.kind == "XceptionModule"] == [
        (1, 16, 22, 22), (1, 32, 11, 11), (1, 64, 6, 6), (1, 128, 3, 3)]


def test_dense_xception_default_size_and_structure():
    model = DenseXception()
    params, _ = count_params(model)
    assert 200_000 <= params <= 1_500_000
    s = summarize(model)
    assert 20 < s.mflops < 200
    modules = [r for r in s.rows if r.kind == "DenseModule"]
    assert len(modules) == 4
    assert [r.shape[2] for r in modules] == [44, 22, 11, 6]
    # Layer i of a module sees the module input plus the i earlier outputs.
    first = model.features[0]
    w, g = DENSE_DEFAULTS["width"], DENSE_DEFAULTS["growth"]
    assert [layer.sep[0].in_channels for layer in first.layers] == [w + i * g for i in range(len(first.layers))]
    text = s.format("dense")
    assert "Parameters: " in text and "MFLOPs" in text and "DenseSepLayer" in text


def test_dense_xception_is_configurable():
    small = count_params(build_model(model_config("dense_xception", width=8, growth=8, layers=[1, 2, 2, 2])))[0]
    big = count_params(build_model(model_config("dense_xception", growth=24)))[0]
    default = count_params(DenseXception())[0]
    assert small < default < big
    with pytest.raises(ValueError, match=r"layers: expected 4 integers >= 1 \(one per module\) but received \[2, 3\]"):
        DenseXception(layers=(2, 3))
    with pytest.raises(ValueError, match="growth: expected an integer >= 1 but received 0"):
        DenseXception(growth=0)
    with pytest.raises(ValueError, match="arch: expected one of mini_xception, dense_xception, resnet but received 'vgg'"):
        model_config("vgg")


@pytest.mark.parametrize("arch", ["mini_xception", "dense_xception"])
def test_batchnorm_folding_keeps_the_outputs(arch):
    torch.manual_seed(0)
    model = build_model(model_config(arch))
    for m in model.modules():  # non-trivial statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    model.eval()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(6, 1, 48, 48)
    with torch.no_grad():
        assert torch.allclose(model(x), folded(x), atol=1e-5, rtol=1e-5)
