"""Which trained checkpoints to average into one ensemble: every subset of the candidates, scored as
``export --member ... --flip-average [--zoom-average Z,...]`` would run it (each member's logits averaged over
the face and its mirror, at each magnification, then the members' logits averaged), ranked by accuracy on a
labelled set.

    python -m moodlens_train.ensemble_select --data /data/fer2013/val [--zoom-average 0.92,1.1] \\
        --candidate checkpoints/kd3/fer2013_dense_xception.13-0.68.pt --candidate checkpoints/resnet16/... [--json]

Selecting on PublicTest makes its figures validation figures; ``moodlens evaluate`` of the exported ensemble is
the one to report.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from typing import List, Optional, Sequence

import numpy as np
import torch

from .data import DatasetError, default_usage, load_faces
from .defaults import HelpFormatter, cpu_threads
from .evaluate import load_model_from_checkpoint, predict_logits
from .export import zoom_list
from .models import AveragedLogits


def view_averaged_logits(path: str, images: np.ndarray, device: torch.device,
                         zooms: Sequence[float] = (1.0,)) -> np.ndarray:
    """A checkpoint's logits (N, 7) on the faces averaged over the test-time views the exported ensemble
    computes: the face and its mirror, at each magnification in ``zooms``."""
    model, ckpt = load_model_from_checkpoint(path, device)
    views = AveragedLogits([model], flip=True, zooms=zooms).to(device).eval()
    return predict_logits(views, images, str(ckpt.get("scaling", "v1")), device, 256)


def rank_subsets(logits: Sequence[np.ndarray], labels: np.ndarray, max_size: Optional[int] = None) -> List[dict]:
    """Accuracy of the mean logits of every non-empty subset (indices into ``logits``), best first; on equal
    accuracy the smaller subset first."""
    n = len(logits)
    rows = []
    for k in range(1, (max_size or n) + 1):
        for subset in itertools.combinations(range(n), k):
            mean = sum(logits[i] for i in subset) / k
            rows.append({"members": list(subset), "accuracy": float((mean.argmax(1) == labels).mean())})
    rows.sort(key=lambda r: (-r["accuracy"], len(r["members"])))
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--data", required=True, help="labelled faces: a FER-2013 folder or fer2013.csv")
    p.add_argument("--usage", default=None, help="CSV rows to use (default PublicTest for a CSV)")
    p.add_argument("--candidate", action="append", required=True, metavar="CKPT", help="a trained checkpoint (repeat)")
    p.add_argument("--zoom-average", type=zoom_list, default=[1.0], metavar="Z,Z,...",
                   help="also average each member over the face magnified by each factor (as export's flag)")
    p.add_argument("--max-size", type=int, default=None, help="largest subset to score (default: all)")
    p.add_argument("--top", type=int, default=10, help="subsets to print")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print every ranked subset as JSON")
    args = p.parse_args(argv)
    if len(args.candidate) > 12:
        p.error("--candidate: at most 12 (every subset is scored)")
    torch.set_num_threads(args.threads or cpu_threads())
    try:
        faces = load_faces(args.data, usage=args.usage or default_usage(args.data, "val"))
    except (DatasetError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    device = torch.device("cpu")
    logits = []
    for path in args.candidate:
        logits.append(view_averaged_logits(path, faces.images, device, args.zoom_average))
        alone = float((logits[-1].argmax(1) == faces.labels).mean())
        print(f"{path}: {alone * 100:.2f}% (with its mirror, zooms {args.zoom_average})", file=sys.stderr)
    rows = rank_subsets(logits, faces.labels, args.max_size)
    for row in rows:
        row["members"] = [args.candidate[i] for i in row["members"]]
    if args.json:
        print(json.dumps({"faces": int(len(faces.labels)), "zooms": args.zoom_average, "subsets": rows}, indent=2))
    else:
        for row in rows[: args.top]:
            print(f"{row['accuracy'] * 100:.2f}%  " + " + ".join(row["members"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
