"""Measures FSRNet against bicubic upsampling on PublicTest faces at x2 and x4: PSNR, SSIM and the emotion
accuracy of the shipped classifier's checkpoint on the restored faces (the purpose of the stage).

    python -m moodlens_train.sr_eval --data <fer>/val --emotion runs/dense-v1/fer2013_dense_xception.44-0.66.pt \\
        --model fsrnet=runs/fsrnet/best.pt --model no-priors=runs/fsrnet-noprior/best.pt --json-out sr.json

Each face is degraded by `sr_degrade.degrade` (the TypeScript side's `moodlens evaluate --degrade` does the
same) and restored by: `none` (the classifier's own resize of the small face: bilinear, as at run time),
`bicubic`, and each FSRNet checkpoint. PSNR and SSIM compare the restored 48x48 face with the original; the
classifier sees the restored face histogram-equalized, as at run time.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from .callbacks import emit_json
from .data import load_faces
from .evaluate import load_model_from_checkpoint
from .sr_data import SIZE, bicubic_baseline, evaluation_inputs, psnr, ssim
from .sr_degrade import degrade
from .sr_export import load_model
from .sr_train import enhance


@torch.no_grad()
def emotion_accuracy(model, faces_u8: np.ndarray, labels: np.ndarray) -> float:
    eq = np.stack([cv2.equalizeHist(f) for f in faces_u8])
    x = torch.from_numpy(eq[:, None].astype(np.float32) / 255.0)
    pred = np.concatenate([model(x[s:s + 512]).argmax(1).numpy() for s in range(0, len(x), 512)])
    return float((pred == labels).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='PublicTest: image folder or fer2013.csv')
    p.add_argument('--usage', default=None, help='CSV split (default: PublicTest for a CSV)')
    p.add_argument('--emotion', type=Path, required=True, help='emotion checkpoint (.pt)')
    p.add_argument('--model', action='append', default=[], help='NAME=FSRNET_CHECKPOINT (repeatable)')
    p.add_argument('--factors', default='2,4')
    p.add_argument('--flip-average', action='store_true',
                   help='also report each model averaged with its mirror image (rows NAME+flip)')
    p.add_argument('--limit', type=int)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--json-out', type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    usage = args.usage or ('PublicTest' if str(args.data).endswith('.csv') else None)
    faces = load_faces(args.data, usage=usage, limit=args.limit)
    hr, labels = faces.images, faces.labels
    classifier, _ = load_model_from_checkpoint(args.emotion, torch.device('cpu'))
    models = {}
    for spec in args.model:
        name, path = spec.split('=', 1)
        models[name] = load_model(path)
    results = {'faces': int(len(hr)), 'original_accuracy': emotion_accuracy(classifier, hr, labels), 'factors': {}}
    for f in (int(v) for v in args.factors.split(',')):
        lr = np.stack([degrade(h, f) for h in hr])
        restored = {
            'none': np.stack([cv2.resize(x, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR_EXACT) for x in lr]),
            'bicubic': bicubic_baseline(hr, f),
        }
        inputs = evaluation_inputs(hr, f)
        for name, m in models.items():
            restored[name] = enhance(m, inputs)
            if args.flip_average:
                restored[f'{name}+flip'] = enhance(m, inputs, flip=True)
        row = {}
        for name, img in restored.items():
            row[name] = {'psnr': float(psnr(img, hr).mean()), 'ssim': float(ssim(img, hr).mean()),
                         'accuracy': emotion_accuracy(classifier, img, labels)}
            print(f'x{f} {name:<22} PSNR {row[name]["psnr"]:.2f} dB  SSIM {row[name]["ssim"]:.4f}  '
                  f'accuracy {row[name]["accuracy"]:.4f}', file=sys.stderr)
        results['factors'][f'x{f}'] = row
    print(f'original faces: accuracy {results["original_accuracy"]:.4f}', file=sys.stderr)
    emit_json(results, args.json_out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
