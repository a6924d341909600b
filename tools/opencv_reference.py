#!/usr/bin/env python3
"""Run OpenCV's own Haar cascade detector on a batch of grayscale images: the reference MoodLens's
TypeScript engine is checked and timed against.

Reads a JSON job on stdin (or from --job FILE):

    {"cascade": "models/haar/haarcascade_frontalface_default.xml",
     "images": ["a.png", "b.png"],          # 8-bit grayscale PNGs, read with cv2.IMREAD_GRAYSCALE
     "scaleFactor": 1.1, "minNeighbors": 3,  # optional, OpenCV's defaults
     "minSize": 0, "maxSize": 0,             # optional, square sides in pixels, 0 = none
     "repeat": 1, "warmup": 0,               # optional: timed runs per image (median reported), untimed first runs
     "threads": 1,                           # optional: cv2.setNumThreads(threads); absent = OpenCV's default
     "read": "gray"}                         # optional: "gray" (IMREAD_GRAYSCALE, default) or "color"
                                             # (IMREAD_COLOR then cvtColor BGR2GRAY, as a Python user would)

and prints JSON:

    {"opencv": "4.6.0", "threads": 1,
     "results": [{"image": "a.png", "width": 640, "height": 480, "sha256": "<hex of the pixels read>",
                  "boxes": [[x, y, w, h], ...], "ms": 12.3, "runs": [...]}]}

"sha256" is taken over the gray pixels detectMultiScale received, so a caller can prove both engines saw
the same bytes.

Boxes are sorted by (y, x, w, h). "ms" is the median wall time of detectMultiScale alone (image reading
excluded). OpenCL is switched off so the CPU code path, the one the TypeScript engine mirrors, is measured.
Needs only cv2 (python3-opencv) and numpy.
"""

import argparse
import hashlib
import json
import statistics
import sys
import time


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Run cv2.CascadeClassifier.detectMultiScale on grayscale images described by a JSON job "
        "(stdin or --job) and print boxes and median timings as JSON.",
        epilog='Example: echo \'{"cascade": "models/haar/haarcascade_frontalface_default.xml", '
        '"images": ["face.png"]}\' | /usr/bin/python3 tools/opencv_reference.py',
    )
    parser.add_argument("--job", metavar="FILE", help="read the JSON job from FILE instead of stdin")
    parser.add_argument("--version", action="store_true", help="print the OpenCV version and exit")
    parser.add_argument("--indent", type=int, default=None, help="pretty-print the JSON output")
    return parser.parse_args(argv)


def fail(message):
    sys.stderr.write(f"opencv_reference: {message}\n")
    sys.exit(2)


def positive_int(job, name, default):
    value = job.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        fail(f"expected a non-negative integer for {name} but received {value!r}")
    return value


def main(argv):
    args = parse_args(argv)
    try:
        import cv2  # noqa: PLC0415 (imported late so --help works without OpenCV)
    except ImportError as error:
        fail(f"cannot import cv2 ({error}); install python3-opencv")

    if args.version:
        print(cv2.__version__)
        return 0

    text = open(args.job, encoding="utf-8").read() if args.job else sys.stdin.read()
    try:
        job = json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"the job is not valid JSON: {error}")
    if not isinstance(job, dict):
        fail("the job must be a JSON object")

    cascade_path = job.get("cascade")
    images = job.get("images")
    if not isinstance(cascade_path, str):
        fail("expected a path string for cascade")
    if not isinstance(images, list) or not all(isinstance(p, str) for p in images):
        fail("expected a list of path strings for images")

    scale_factor = job.get("scaleFactor", 1.1)
    if scale_factor is None:
        scale_factor = 1.1
    if not isinstance(scale_factor, (int, float)) or isinstance(scale_factor, bool) or scale_factor <= 1:
        fail(f"expected a number above 1 for scaleFactor but received {scale_factor!r}")
    min_neighbors = positive_int(job, "minNeighbors", 3)
    min_size = positive_int(job, "minSize", 0)
    max_size = positive_int(job, "maxSize", 0)
    repeat = max(1, positive_int(job, "repeat", 1))
    warmup = positive_int(job, "warmup", 0)
    threads = job.get("threads")
    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            fail(f"expected a non-negative integer for threads but received {threads!r}")
        cv2.setNumThreads(threads)
    read_mode = job.get("read", "gray")
    if read_mode not in ("gray", "color"):
        fail(f'expected "gray" or "color" for read but received {read_mode!r}')
    cv2.ocl.setUseOpenCL(False)

    classifier = cv2.CascadeClassifier()
    if not classifier.load(cascade_path):
        fail(f"cannot load the cascade {cascade_path}")

    results = []
    for path in images:
        if read_mode == "color":
            image = cv2.imread(path, cv2.IMREAD_COLOR)
            if image is not None:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        else:
            image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if image is None:
            fail(f"cannot read the image {path}")
        kwargs = {"scaleFactor": float(scale_factor), "minNeighbors": min_neighbors}
        if min_size > 0:
            kwargs["minSize"] = (min_size, min_size)
        if max_size > 0:
            kwargs["maxSize"] = (max_size, max_size)
        for _ in range(warmup):
            classifier.detectMultiScale(image, **kwargs)
        runs = []
        found = ()
        for _ in range(repeat):
            start = time.perf_counter()
            found = classifier.detectMultiScale(image, **kwargs)
            runs.append((time.perf_counter() - start) * 1000.0)
        boxes = sorted(([int(v) for v in box] for box in found), key=lambda b: (b[1], b[0], b[2], b[3]))
        results.append(
            {
                "image": path,
                "width": int(image.shape[1]),
                "height": int(image.shape[0]),
                "sha256": hashlib.sha256(image.tobytes()).hexdigest(),
                "boxes": boxes,
                "ms": statistics.median(runs),
                "runs": runs,
            }
        )

    json.dump({"opencv": cv2.__version__, "threads": cv2.getNumThreads(), "results": results}, sys.stdout,
              indent=args.indent)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
