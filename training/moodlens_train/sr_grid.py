"""Draws the README's picture grid: for a dozen PublicTest faces, the low-resolution face, bicubic upsampling,
each FSRNet checkpoint and the original, side by side (tiles enlarged with nearest neighbours so that the
pixels stay visible).

    python -m moodlens_train.sr_grid --data <fer>/val --factor 4 --model FSRNet=runs/fsrnet/best.pt \\
        --out ../docs/fsrnet-grid.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from . import LABELS
from .data import load_faces
from .sr_data import SIZE, bicubic_baseline, evaluation_inputs
from .sr_degrade import degrade
from .sr_export import load_model
from .sr_train import enhance

TILE = 144
HEADER = 28


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--factor', type=int, default=4)
    p.add_argument('--model', action='append', default=[], help='TITLE=FSRNET_CHECKPOINT (repeatable)')
    p.add_argument('--count', type=int, default=12)
    p.add_argument('--seed', type=int, default=7)
    p.add_argument('--out', type=Path, required=True)
    args = p.parse_args(argv)
    faces = load_faces(args.data, limit=args.count * 7, seed=args.seed)
    pick = np.linspace(0, len(faces.images) - 1, args.count).astype(int)  # spread over the classes
    hr, labels = faces.images[pick], faces.labels[pick]
    f = args.factor
    columns = [(f'{SIZE // f}x{SIZE // f} input', np.stack([degrade(h, f) for h in hr])),
               ('bicubic', bicubic_baseline(hr, f))]
    inputs = evaluation_inputs(hr, f)
    for spec in args.model:
        title, path = spec.split('=', 1)
        columns.append((title, enhance(load_model(path), inputs)))
    columns.append(('original 48x48', hr))
    gap = 4
    width = len(columns) * (TILE + gap) + 70
    canvas = np.full((HEADER + args.count * (TILE + gap), width), 255, np.uint8)
    for c, (title, imgs) in enumerate(columns):
        x = 70 + c * (TILE + gap)
        cv2.putText(canvas, title, (x + 2, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1, cv2.LINE_AA)
        for r, img in enumerate(imgs):
            y = HEADER + r * (TILE + gap)
            canvas[y:y + TILE, x:x + TILE] = cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_NEAREST)
    for r, label in enumerate(labels):
        y = HEADER + r * (TILE + gap) + TILE // 2
        cv2.putText(canvas, LABELS[label], (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42, 0, 1, cv2.LINE_AA)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), canvas, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f'wrote {args.out} ({canvas.shape[1]}x{canvas.shape[0]})', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
