"""Ensemble selection: every subset scored as the exported view-averaged ensemble runs, on real faces."""

from __future__ import annotations

import json

import numpy as np
import torch

from moodlens_train.ensemble_select import main, view_averaged_logits, rank_subsets
from moodlens_train.evaluate import load_model_from_checkpoint


def test_rank_subsets_scores_the_mean_logits_and_prefers_smaller_subsets_on_ties():
    labels = np.array([0, 1, 2, 0])
    eye = np.eye(3, dtype=np.float32)
    right = eye[labels]  # all four right
    half = eye[[0, 1, 0, 1]]  # faces 0 and 1 right
    wrong = eye[[1, 2, 0, 1]] * 0.5  # all wrong, weakly
    rows = rank_subsets([half, right, wrong], labels)
    assert rows[0] == {"members": [1], "accuracy": 1.0}
    assert {"members": [1, 2], "accuracy": 1.0} in rows  # the strong member outvotes the weak wrong one
    assert rows.index({"members": [1], "accuracy": 1.0}) < rows.index({"members": [1, 2], "accuracy": 1.0})
    assert len(rows) == 7
    assert len(rank_subsets([half, right, wrong], labels, max_size=1)) == 3


def test_view_averaged_logits_match_the_model_on_each_view(fer_dir, tiny_run, capsys):
    ckpt = str(sorted(tiny_run.glob("fer2013_dense_xception.*.pt"))[0])
    images = np.stack([np.asarray(np.random.default_rng(i).integers(0, 256, (48, 48)), np.uint8) for i in range(4)])
    model, _ = load_model_from_checkpoint(ckpt, torch.device("cpu"))
    with torch.no_grad():
        x = torch.from_numpy(images).float().div(255).unsqueeze(1)
        expected = (model(x) + model(torch.flip(x, [3]))) / 2
    np.testing.assert_allclose(view_averaged_logits(ckpt, images, torch.device("cpu")), expected.numpy(), atol=1e-5)
    zoomed = view_averaged_logits(ckpt, images, torch.device("cpu"), zooms=(1.0, 1.2))
    assert np.abs(zoomed - expected.numpy()).max() > 1e-3  # the magnified views count

    assert main(["--data", str(fer_dir / "val"), "--candidate", ckpt, "--candidate", ckpt, "--json",
                 "--zoom-average", "1.1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["zooms"] == [1.0, 1.1]
    assert len(report["subsets"]) == 3 and report["faces"] > 0
    # one model twice is that model: the same accuracy, the single one ranked first
    assert len({r["accuracy"] for r in report["subsets"]}) == 1
    assert report["subsets"][0]["members"] == [ckpt]
