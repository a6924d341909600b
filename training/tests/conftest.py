"""Shared fixtures: real FER-2013 faces and one tiny real training run.

The data: ``MOODLENS_FER_DIR`` (a folder holding ``train/`` and ``val/``, each ``<emotion>/*.jpg``), else the
archives in ``<repo>/../shared/data/fer2013/`` unpacked once into ``<repo>/.cache/fer2013/`` (git-ignored;
another test suite may already have unpacked ``val/`` there). Unpacking goes to a scratch folder first and is
renamed into place, so concurrent runs never see a half-unpacked split. Paths do not depend on the cwd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

TRAINING_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TRAINING_DIR.parent
if str(TRAINING_DIR) not in sys.path:
    sys.path.insert(0, str(TRAINING_DIR))

import torch  # noqa: E402

#: torch threads for the tests and their training runs (CI: the machine's 2 cores).
TEST_THREADS = int(os.environ.get("MOODLENS_TEST_THREADS", "2"))
torch.set_num_threads(TEST_THREADS)

ARCHIVES = {"train": "fer2013-train.tar.gz", "val": "fer2013-publictest.tar.gz"}
FACE300W_ARCHIVE = Path(os.environ.get("MOODLENS_FACE300W_ARCHIVE",
                                       REPO_ROOT.parent / "shared" / "data" / "face300w" / "face300w-train.tar.gz"))
ARCHIVE_DIR = Path(os.environ.get("MOODLENS_FER_ARCHIVES", REPO_ROOT.parent / "shared" / "data" / "fer2013"))
CACHE_DIR = REPO_ROOT / ".cache" / "fer2013"


def _unpack(split: str) -> Path:
    target = CACHE_DIR / split
    if target.is_dir():
        return target
    archive = ARCHIVE_DIR / ARCHIVES[split]
    if not archive.is_file():
        pytest.skip(f"FER-2013 {split} data not found: set MOODLENS_FER_DIR or provide {archive}")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="fer2013-unpack-", dir=CACHE_DIR.parent))
    try:
        if shutil.which("tar"):
            subprocess.run(["tar", "xzf", str(archive), "-C", str(scratch)], check=True)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(scratch)
        try:
            os.rename(scratch / split, target)
        except OSError:
            if not target.is_dir():  # another process won the race only if its copy is in place
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def fer_dir() -> Path:
    """A folder with train/ and val/ image folders of real FER-2013 faces."""
    given = os.environ.get("MOODLENS_FER_DIR")
    if given:
        root = Path(given)
        for split in ("train", "val"):
            if not (root / split).is_dir():
                pytest.fail(f"MOODLENS_FER_DIR={given}: no {split}/ folder in it")
        return root
    _unpack("val")
    _unpack("train")
    return CACHE_DIR


@pytest.fixture(scope="session")
def face300w_dir() -> Path:
    """The face300w folder (landmarks.json + images/): MOODLENS_FACE300W_DIR, else the shared archive unpacked
    once into <repo>/.cache/face300w/."""
    given = os.environ.get("MOODLENS_FACE300W_DIR")
    if given:
        return Path(given)
    target = REPO_ROOT / ".cache" / "face300w"
    if (target / "landmarks.json").is_file():
        return target
    if not FACE300W_ARCHIVE.is_file():
        pytest.skip(f"face300w data not found: set MOODLENS_FACE300W_DIR or provide {FACE300W_ARCHIVE}")
    (REPO_ROOT / ".cache").mkdir(exist_ok=True)  # a fresh clone has none until something unpacks there
    scratch = Path(tempfile.mkdtemp(prefix="face300w-unpack-", dir=REPO_ROOT / ".cache"))
    try:
        subprocess.run(["tar", "xzf", str(FACE300W_ARCHIVE), "-C", str(scratch)], check=True)
        try:
            os.rename(scratch / "face300w", target)
        except OSError:
            if not (target / "landmarks.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def tiny_run(fer_dir, tmp_path_factory):
    """A tiny real training run: 512 training faces, 512 PublicTest faces, 3 epochs, batch 64."""
    from moodlens_train.train import main

    out = tmp_path_factory.mktemp("runs") / "tiny"
    rc = main(tiny_args(fer_dir, out, epochs=3))
    assert rc == 0
    return out


def tiny_args(fer_dir, out, epochs: int, arch: str = "dense_xception", extra=()):
    return [
        "--data", str(fer_dir / "train"), "--val", str(fer_dir / "val"), "--limit", "512", "--val-limit", "512",
        "--epochs", str(epochs), "--batch-size", "64", "--threads", str(TEST_THREADS), "--arch", arch, "--out", str(out),
        "--quiet", "--seed", "7", *extra,
    ]
