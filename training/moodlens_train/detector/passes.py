"""The detector's extra passes as command-line flags (evaluate, review, wider_eval, export); no torch here, so
the Haar-only commands stay light."""
from __future__ import annotations

from typing import Dict


def add_pass_arguments(p, fine_long_side: int = 0) -> None:
    """The flags for the detector's extra passes (evaluate, review, wider_eval, export): what a model's
    moodlens.fine_*, moodlens.coarse_* and moodlens.mirror_* metadata record."""
    p.add_argument("--fine-long-side", type=int, default=fine_long_side,
                   help="a second pass at this long side for small faces (0: none; the model's "
                        "moodlens.fine_long_side; default %(default)s)")
    p.add_argument("--fine-max-face", type=float, default=32.0,
                   help="the fine pass keeps faces under this size, in pixels at --long-side (default %(default)s)")
    p.add_argument("--coarse-long-side", type=int, default=0,
                   help="a pass at this smaller long side for faces filling the photo (0: none; the model's "
                        "moodlens.coarse_long_side)")
    p.add_argument("--coarse-min-face", type=float, default=250.0,
                   help="the coarse pass keeps faces over this size, in pixels at --long-side (default %(default)s)")
    p.add_argument("--mirror", action="store_true",
                   help="also run the passes on the photo's mirror image and fuse the two views (metrics.detect; "
                        "the model's moodlens.mirror_score_threshold)")


def pass_settings(args) -> Dict[str, float]:
    """`detect`'s keyword arguments for the passes the flags ask for, a face size 0 where its pass is off (as the
    evaluation files record them)."""
    return {"fine_long_side": args.fine_long_side,
            "fine_max_face": args.fine_max_face if args.fine_long_side else 0,
            "coarse_long_side": args.coarse_long_side,
            "coarse_min_face": args.coarse_min_face if args.coarse_long_side else 0,
            "mirror": bool(args.mirror)}
