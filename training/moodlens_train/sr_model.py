"""FSRNet (Chen et al., CVPR 2018), sized for 48x48 FER-2013 faces.

Input: the low-resolution face bicubically upsampled to 48x48 and histogram-equalized, /255, (N, 1, 48, 48).

1. Coarse SR network: a stride-2 conv to 24x24, residual blocks, a sub-pixel conv back to 48x48, added to the
   input (it learns the missing detail, not the face).
2. From the coarse estimate, two branches at 24x24:
   - fine SR encoder: a stride-2 conv and residual blocks (image features);
   - prior estimation network: a stride-2 conv, a residual block and a two-level hourglass (24 -> 12 -> 6 and
     back, with skip branches), then 68 landmark heatmaps and PARSING_CLASSES parsing logits.
3. Fine SR decoder: the concatenation of the encoder features, the heatmaps and the parsing probabilities,
   residual blocks, a sub-pixel upsampling to 48x48 and a conv to one channel, added to the coarse estimate.

`priors=False` builds the paper's ablation: the same network without the prior branch (the decoder sees the
encoder features alone). Outputs in training: (coarse, fine, heatmaps, parsing logits); the exported graph
returns the fine face only, clamped to [0, 1].
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SIZE = 48
PRIOR_SIZE = 24
NUM_POINTS = 68
PARSING_CLASSES = 6  # background, skin, brows, eyes, nose, lips
PARSING_NAMES = ('background', 'skin', 'brows', 'eyes', 'nose', 'lips')


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


def down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.ReLU(inplace=True))


def up_to_image(c: int, cout: int = 1) -> nn.Sequential:
    """24x24 features -> 48x48 image residual: conv to 4*cout maps and a pixel shuffle (sub-pixel conv)."""
    return nn.Sequential(nn.Conv2d(c, 4 * cout, 3, 1, 1), nn.PixelShuffle(2))


class Hourglass(nn.Module):
    """Recursive hourglass: a skip branch at this resolution plus down, inner, up; depth levels below."""

    def __init__(self, c: int, depth: int):
        super().__init__()
        self.skip = ResBlock(c)
        self.down = ResBlock(c)
        self.inner = Hourglass(c, depth - 1) if depth > 1 else ResBlock(c)
        self.up = ResBlock(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(y, scale_factor=2.0, mode='nearest')


class FSRNet(nn.Module):
    def __init__(self, width: int = 32, priors: bool = True, blocks: int = 3):
        super().__init__()
        c = width
        self.use_priors = priors
        self.coarse = nn.Sequential(down(1, c), *[ResBlock(c) for _ in range(2)], up_to_image(c))
        self.encoder = nn.Sequential(down(1, c), *[ResBlock(c) for _ in range(blocks)])
        if priors:
            self.prior = nn.Sequential(down(1, c), ResBlock(c), Hourglass(c, 2), ResBlock(c))
            self.heatmaps = nn.Conv2d(c, NUM_POINTS, 1)
            self.parsing = nn.Conv2d(c, PARSING_CLASSES, 1)
            dec_in = c + NUM_POINTS + PARSING_CLASSES
        else:
            dec_in = c
        self.decoder = nn.Sequential(nn.Conv2d(dec_in, c, 1), nn.ReLU(inplace=True),
                                     *[ResBlock(c) for _ in range(blocks)], up_to_image(c, 8),
                                     nn.ReLU(inplace=True), nn.Conv2d(8, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor):
        coarse = x + self.coarse(x)
        feats = self.encoder(coarse)
        if self.use_priors:
            p = self.prior(coarse)
            heat, parse = self.heatmaps(p), self.parsing(p)
            feats = torch.cat([feats, heat, torch.softmax(parse, dim=1)], dim=1)
        else:
            heat = parse = None
        fine = coarse + self.decoder(feats)
        return coarse, fine, heat, parse


class FSRNetExport(nn.Module):
    """The deployed graph: the fine face only, clamped to [0, 1]."""

    def __init__(self, net: FSRNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.net(x)[1], 0.0, 1.0)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
