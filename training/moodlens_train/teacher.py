"""dlib's 68-point shape predictor as a teacher for the landmark student (training only, never shipped).

Debian packages the predictor (libdlib-data: /usr/share/dlib/shape_predictor_68_face_landmarks.dat, CC0-1.0 per
its copyright file) and the C++ library (libdlib-dev). `teacher/dlib_landmarks.cpp` is compiled once into a
cache folder and kept running as a subprocess; images travel to it as raw gray bytes, so all image loading and
geometry stays here in Python.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

PREDICTOR_PATH = Path('/usr/share/dlib/shape_predictor_68_face_landmarks.dat')
SOURCE_PATH = Path(__file__).resolve().parent.parent / 'teacher' / 'dlib_landmarks.cpp'
LINK_LIBS = ['-ldlib', '/lib/x86_64-linux-gnu/libblas.so.3', '/lib/x86_64-linux-gnu/liblapack.so.3']
INSTALL_HINT = 'install the Debian packages: apt-get install -y libdlib-dev libdlib-data g++'


class TeacherUnavailable(RuntimeError):
    """The dlib teacher cannot run on this machine (missing package, compiler or model file)."""


@dataclass(frozen=True)
class TeacherLabel:
    source: str  # 'hog' (dlib's detector found the face), 'box' (the given box was used) or 'none'
    rect: Optional[tuple]  # (left, top, right, bottom) inclusive, dlib's convention
    points: Optional[np.ndarray]  # (68, 2) float32, 0-based pixel centres


def _cache_dir() -> Path:
    root = os.environ.get('MOODLENS_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'moodlens')
    return Path(root)


def build_teacher() -> Path:
    """Compiles the C++ labeller (once per source version) and returns the executable's path."""
    if not PREDICTOR_PATH.exists():
        raise TeacherUnavailable(f'{PREDICTOR_PATH} is missing: {INSTALL_HINT}')
    compiler = shutil.which('g++') or shutil.which('c++')
    if compiler is None:
        raise TeacherUnavailable(f'no C++ compiler found: {INSTALL_HINT}')
    digest = hashlib.sha256(SOURCE_PATH.read_bytes()).hexdigest()[:12]
    exe = _cache_dir() / f'dlib_landmarks-{digest}'
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_suffix('.tmp')
    cmd = [compiler, '-O2', '-std=c++14', '-o', str(tmp), str(SOURCE_PATH), *LINK_LIBS]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise TeacherUnavailable(f'compiling the dlib teacher failed ({INSTALL_HINT}):\n{done.stderr[-2000:]}')
    tmp.replace(exe)
    return exe


class DlibTeacher:
    """A running dlib labeller. Use as a context manager, or call close()."""

    def __init__(self) -> None:
        exe = build_teacher()
        self._proc = subprocess.Popen([str(exe), str(PREDICTOR_PATH)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, bufsize=0)

    def __enter__(self) -> 'DlibTeacher':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait(timeout=30)

    def label(self, gray: np.ndarray, box: Optional[Sequence[float]] = None, detect: bool = True) -> TeacherLabel:
        """68 points for the face in `gray` (H, W uint8). `box` = (x, y, w, h) is used when `detect` is False or
        dlib's HOG detector finds nothing."""
        if gray.dtype != np.uint8 or gray.ndim != 2:
            raise ValueError(f'expected a 2-D uint8 gray image, got {gray.dtype} {gray.shape}')
        h, w = gray.shape
        bx = [int(round(v)) for v in box] if box is not None else [0, 0, 0, 0]
        header = struct.pack('<7i', w, h, *bx, 1 if detect else 0)
        self._proc.stdin.write(header + np.ascontiguousarray(gray).tobytes())
        line = self._proc.stdout.readline().decode().split()
        if not line:
            raise RuntimeError('the dlib teacher stopped unexpectedly')
        if line[0] == 'none':
            return TeacherLabel('none', None, None)
        rect = tuple(int(v) for v in line[1:5])
        points = np.asarray([float(v) for v in line[5:]], dtype=np.float32).reshape(68, 2)
        return TeacherLabel(line[0], rect, points)
