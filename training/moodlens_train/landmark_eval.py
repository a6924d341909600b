"""Measures the landmark student (a checkpoint) and the dlib teacher; writes the figures for the model card.

    python -m moodlens_train.landmark_eval runs/landmarks-v1/best.pt --face300w labels/face300w.npz \\
        --val labels/fer-val.npz --json-out ../models/landmarks/landmarks.json

NME = mean point error / outer-eye-corner distance (points 36 and 45), as 300-W. Reported: on the held-out
tenth of face300w against the human labels (ours, and dlib's predictor from its own HOG box beside it); on
PublicTest against the teacher, on the run-time crops and on rotated/shifted crops of them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import cv2

from .callbacks import emit_json
from .landmark_data import (TTA_SCALES, Augment, LandmarkSet, augmented_crop, crop_square, face300w_split,
                            nme_parts)
from .landmark_export import load_model
from .landmark_model import CROP_SIZE, count_parameters
from .landmark_train import predict


def rotated_crop(faces: LandmarkSet, i: int, angle: float, shift: float, rng: np.random.Generator,
                 size: int = CROP_SIZE):
    """The face turned by exactly `angle` degrees about its crop centre, then cropped from the same Haar box
    shifted by up to `shift` of the side: (uint8 crop, points in crop units)."""
    img, box = faces.images[i], faces.boxes[i]
    x0, y0, side = crop_square(box)
    pad = int(side)  # room so that turning never pulls in unseen corners
    big = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    centre = (x0 + side / 2.0 - 0.5 + pad, y0 + side / 2.0 - 0.5 + pad)
    rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
    turned = cv2.warpAffine(big, rot, (big.shape[1], big.shape[0]), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    pts = np.hstack([faces.points[i] + pad, np.ones((68, 1))]) @ rot.T
    moved = (box[0] + pad, box[1] + pad, box[2], box[3])
    only_shift = Augment(rotation=0.0, rotate_p=0.0, scale=0.0, shift=shift, flip=False, blur_p=0, lowres_p=0,
                         noise_p=0)
    return augmented_crop(turned, moved, pts.astype(np.float32), only_shift, rng, size)


@torch.no_grad()
def perturbed(model, faces: LandmarkSet, angle: float, shift: float, seed: int = 0) -> dict:
    """NME against the labels on crops turned by +-angle (random sign) and shifted by up to `shift`."""
    rng = np.random.default_rng(seed)
    crops, truths = [], []
    for i in range(len(faces)):
        c, u = rotated_crop(faces, i, angle if rng.random() < 0.5 else -angle, shift, rng, model.crop_size)
        crops.append(c)
        truths.append(u)
    x = torch.from_numpy(np.stack(crops)[:, None].astype(np.float32) / 255.0)
    model.eval()
    pred = np.concatenate([model(x[s:s + 256]).numpy() for s in range(0, len(x), 256)])
    return nme_parts(pred, np.stack(truths))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint', type=Path)
    p.add_argument('--face300w', type=Path, required=True)
    p.add_argument('--val', type=Path, required=True, help='teacher-labelled PublicTest faces (.npz)')
    p.add_argument('--json-out', type=Path)
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    _, held_idx = face300w_split(args.face300w)
    held = LandmarkSet(args.face300w, held_idx)
    raw = np.load(args.face300w)
    teacher_pts = raw['teacher'][held.indices]
    teacher_ok = np.isfinite(teacher_pts).all(axis=(1, 2))
    t0 = time.time()
    ours = predict(model, held)
    per_face_ms = (time.time() - t0) * 1000 / len(held)
    results = {
        'model': {'parameters': count_parameters(model), 'input': model.crop_size},
        'face300w_heldout_vs_human': {
            'note': 'every 10th face300w crop (Helen trainset, 300-W labels), never trained on; crop from our '
                    'Haar box',
            'ours': nme_parts(ours, held.points),
            'ours_flip_tta': nme_parts(predict(model, held, tta=True), held.points),
            'ours_flip_scale_tta': {**nme_parts(predict(model, held, tta=True, scales=TTA_SCALES), held.points),
                                    'scales': list(TTA_SCALES)},
            'ours_on_faces_dlib_found': nme_parts(ours[teacher_ok], held.points[teacher_ok]),
            'dlib_teacher': {**nme_parts(teacher_pts[teacher_ok], held.points[teacher_ok]),
                             'faces_found_by_dlib_hog': int(teacher_ok.sum()),
                             'caveat': "dlib's predictor was trained on 300-W, which includes these Helen "
                                       'trainset faces: its figure here is optimistic'},
        },
    }
    val = LandmarkSet(args.val)
    pred = predict(model, val)
    results['publictest_vs_teacher'] = {'run_time_crop': nme_parts(pred, val.points),
                                        'run_time_crop_flip_tta': nme_parts(predict(model, val, tta=True),
                                                                            val.points),
                                        'run_time_crop_flip_scale_tta': nme_parts(
                                            predict(model, val, tta=True, scales=TTA_SCALES), val.points)}
    for angle, shift in [(0, 0.05), (15, 0.0), (30, 0.0), (15, 0.05)]:
        results['publictest_vs_teacher'][f'rot{angle}_shift{shift}'] = perturbed(model, val, angle, shift)
    results['python_ms_per_face'] = per_face_ms
    emit_json(results, args.json_out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
