"""Exports a landmark checkpoint to ONNX with the metadata the TypeScript side reads, and optionally a parity
fixture (real face crops and PyTorch's points) that a Node test compares onnxruntime-node against.

    python -m moodlens_train.landmark_export runs/landmarks-v1/best.pt ../models/landmarks/landmarks.onnx \\
        --parity-out ../test/fixtures/landmarks.parity.json --parity-data labels/fer-val.npz
"""
from __future__ import annotations

import inspect
import io
import sys

import numpy as np
import torch

from .export import fold_batchnorm, set_metadata, small_model_export_main
from .landmark_data import CROP_MARGIN, CROP_SHIFT, LandmarkSet, run_time_crop
from .landmark_model import CROP_SIZE, NUM_POINTS, LandmarkNet

OPSET = 13


def load_model(path) -> LandmarkNet:
    ckpt = torch.load(path, map_location='cpu')
    if not isinstance(ckpt, dict) or ckpt.get('format') != 'moodlens-landmarks/1':
        raise SystemExit(f'{path}: not a MoodLens landmark checkpoint')
    config = ckpt['config']
    model = LandmarkNet(width=config['width'], heatmap=config.get('heatmap', 16),
                        crop_size=config.get('crop_size', CROP_SIZE))
    model.load_state_dict(ckpt['model'])
    return model.eval()


def metadata(crop_size: int = CROP_SIZE, extra=None) -> dict:
    meta = {
        'moodlens.task': 'landmarks',
        'moodlens.points': str(NUM_POINTS),
        'moodlens.input_size': str(crop_size),
        'moodlens.crop_margin': str(CROP_MARGIN),
        'moodlens.crop_shift': str(CROP_SHIFT),
        'moodlens.preprocessing': 'gray,box_shift,square_crop_replicate,area_resize,equalize_hist',
        'moodlens.scaling': 'v1',
        'moodlens.output': 'points in crop units: x = (px + 0.5 - x0) / side',
    }
    meta.update(extra or {})
    return meta


def export_onnx(model: LandmarkNet, extra_metadata=None):
    import onnx
    folded = fold_batchnorm(model)
    buf = io.BytesIO()
    kwargs = {'dynamo': False} if 'dynamo' in inspect.signature(torch.onnx.export).parameters else {}
    size = model.crop_size
    torch.onnx.export(folded, (torch.zeros(1, 1, size, size),), buf, opset_version=OPSET,
                      input_names=['input'], output_names=['points'],
                      dynamic_axes={'input': {0: 'N'}, 'points': {0: 'N'}}, do_constant_folding=True, **kwargs)
    proto = onnx.load_from_string(buf.getvalue())
    set_metadata(proto, metadata(size, extra_metadata))
    return proto, folded


def parity_fixture(model, data_path, count: int) -> dict:
    faces = LandmarkSet(data_path)
    pick = np.linspace(0, len(faces) - 1, count).astype(int)
    crops = np.stack([run_time_crop(faces.images[i], faces.boxes[i], model.crop_size)[0] for i in pick])
    x = torch.from_numpy(crops[:, None].astype(np.float32) / 255.0)
    with torch.no_grad():
        y = model(x).numpy()
    return {'size': model.crop_size, 'crops': [c.flatten().tolist() for c in crops],
            'points': [[round(float(v), 7) for v in p.flatten()] for p in y], 'tolerance': 1e-4}


def main(argv=None) -> int:
    return small_model_export_main(argv, __doc__, load_model, lambda model, extra: export_onnx(model, extra)[0],
                                   parity_fixture, 6, 'labelled .npz whose faces make the parity crops')

if __name__ == '__main__':
    sys.exit(main())
