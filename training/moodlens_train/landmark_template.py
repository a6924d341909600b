"""The canonical 68-point template for alignment: the mean teacher landmarks of FER-2013 training faces in their
48x48 frame, so that an aligned face sits where the emotion classifier's training faces sit.

    python -m moodlens_train.landmark_template labels/fer-train.npz ../models/landmarks/template48.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def template(points: np.ndarray) -> np.ndarray:
    """Per-point mean after dropping the faces whose eye line is tilted more than 10 degrees (keeps the
    template upright) and the 5% with the largest distance to a first mean (teacher slips)."""
    eye = points[:, 45] - points[:, 36]
    tilt = np.degrees(np.arctan2(eye[:, 1], eye[:, 0]))
    upright = points[np.abs(tilt) < 10]
    first = upright.mean(axis=0)
    dist = np.linalg.norm(upright - first, axis=2).mean(axis=1)
    keep = upright[dist <= np.quantile(dist, 0.95)]
    return keep.mean(axis=0), len(keep)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    data = np.load(argv[0])
    mean, n = template(data['points'])
    out = {'size': 48, 'convention': 'iBUG 68, 0-based pixel centres in the 48x48 FER-2013 frame',
           'source': f'mean dlib-teacher landmarks of {n} upright FER-2013 training faces ({Path(argv[0]).name})',
           'points': [[round(float(x), 3), round(float(y), 3)] for x, y in mean]}
    Path(argv[1]).parent.mkdir(parents=True, exist_ok=True)
    Path(argv[1]).write_text(json.dumps(out) + '\n')
    print(f'wrote {argv[1]} from {n} faces', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
