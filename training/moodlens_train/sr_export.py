"""Exports an FSRNet checkpoint to ONNX (the fine face only, clamped to [0, 1]) with the metadata the TypeScript
side reads, and optionally a parity fixture: real degraded PublicTest faces and PyTorch's restored faces.

    python -m moodlens_train.sr_export runs/fsrnet/best.pt ../models/enhance/fsrnet.onnx \\
        --parity-out ../test/fixtures/fsrnet.parity.json --parity-data labels/fer-val.npz
"""
from __future__ import annotations

import inspect
import io
import sys

import numpy as np
import torch

from .export import set_metadata, small_model_export_main
from .sr_data import Degradation, evaluation_inputs
from .sr_model import SIZE, FSRNet, FSRNetExport

OPSET = 13
FORMAT = 'moodlens-fsrnet/1'


def load_model(path) -> FSRNet:
    ckpt = torch.load(path, map_location='cpu')
    if not isinstance(ckpt, dict) or ckpt.get('format') != FORMAT:
        raise SystemExit(f'{path}: not a MoodLens FSRNet checkpoint')
    cfg = ckpt['config']
    model = FSRNet(width=cfg['width'], priors=cfg['priors'], blocks=cfg['blocks'])
    model.load_state_dict(ckpt['model'])
    # runs from before --factors trained on the default mix
    model.trained_factors = tuple(cfg.get('factors', Degradation().factors))
    return model.eval()


def metadata(model: FSRNet, extra=None) -> dict:
    meta = {
        'moodlens.task': 'super_resolution',
        'moodlens.input_size': str(SIZE),
        'moodlens.preprocessing': 'gray,bicubic_a-0.75_half_pixel,round,equalize_hist',
        'moodlens.scaling': 'v1',
        'moodlens.output': 'restored face, [0, 1] (x255 and round half up for pixels)',
        'moodlens.priors': 'landmark_heatmaps_68,parsing_6' if model.use_priors else 'none',
        'moodlens.trained_factors': ','.join(str(f) for f in getattr(model, 'trained_factors', Degradation().factors)),
    }
    meta.update(extra or {})
    return meta


def export_onnx(model: FSRNet, extra_metadata=None):
    import onnx
    buf = io.BytesIO()
    kwargs = {'dynamo': False} if 'dynamo' in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(FSRNetExport(model).eval(), (torch.zeros(1, 1, SIZE, SIZE),), buf, opset_version=OPSET,
                      input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'N'}, 'output': {0: 'N'}}, do_constant_folding=True, **kwargs)
    proto = onnx.load_from_string(buf.getvalue())
    set_metadata(proto, metadata(model, extra_metadata))
    return proto


def parity_fixture(model: FSRNet, data_path, count: int) -> dict:
    images = np.load(data_path)['image']
    pick = np.linspace(0, len(images) - 1, count).astype(int)
    inputs = np.concatenate([evaluation_inputs(images[pick[0::2]], 4), evaluation_inputs(images[pick[1::2]], 2)])
    with torch.no_grad():
        y = FSRNetExport(model)(torch.from_numpy(inputs[:, None].astype(np.float32) / 255.0))[:, 0].numpy()
    return {'size': SIZE, 'inputs': [x.flatten().tolist() for x in inputs],
            'outputs': [[round(float(v), 6) for v in o.flatten()] for o in y], 'tolerance': 1e-4}


def main(argv=None) -> int:
    return small_model_export_main(argv, __doc__, load_model, export_onnx, parity_fixture, 4,
                                   '.npz of 48x48 faces (image) that make the parity inputs')

if __name__ == '__main__':
    sys.exit(main())
