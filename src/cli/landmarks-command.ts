import type { Box } from '../core/image.js';
import { loadLandmarkDetector } from '../io/node/landmark-model.js';
import { boxScore } from '../detect/cnn/box-detector.js';
import {
  DETECTOR_HELP,
  DETECTOR_NUMERIC_OPTIONS,
  DETECTOR_OPTIONS,
  parseDetectorFlags,
  type DetectorFlags,
} from './detector-flags.js';
import { faceListOutcome, processImages, type FaceListEntry } from './image-batch.js';
import { describePoints, jsonPoints, resolveLandmarkModel, roundScore } from './landmark-output.js';
import { openFaceDetector, type ClosableFaceDetector } from './open-detector.js';
import { EXIT_FAILURE, EXIT_OK, parseCommandArgs, usageError, type CliCommand, type CliIo } from './main.js';

/** One face of `moodlens landmarks --json`. */
export interface LandmarkFaceResult {
  readonly box: Box;
  /** The learned detector's score (0-1), with `--detector cnn`; absent with Haar. */
  readonly score?: number;
  /** 68 `[x, y]` in image pixels (0-based pixel centres), iBUG 300-W order. */
  readonly landmarks: [number, number][];
  /** Whether the points pass the plausibility checks (see src/landmarks/reliability.ts). */
  readonly reliable: boolean;
  /** The failed checks, when not reliable. */
  readonly problems?: readonly string[];
}

/** One entry of `moodlens landmarks --json` for an image read successfully (failures are `FileError`). */
export type LandmarksFileResult = FaceListEntry<LandmarkFaceResult>;

const HELP = `Usage: moodlens landmarks <image...> [options]

Finds each face (OpenCV's Haar cascade, or the learned detector with --detector cnn)
and its 68 landmarks (iBUG 300-W order:
0-16 jaw, 17-21 right brow, 22-26 left brow, 27-35 nose, 36-41 right eye,
42-47 left eye, 48-67 mouth; right and left are the subject's) in image pixels,
0-based pixel centres. Like detect, every box the detector gives (Haar: with OpenCV's
defaults, 3 neighbours), each with its points and "reliable": the false-face check of
analyze and the server is not applied here.

Options:
  --json              Print one JSON array on stdout:
                        [{"file", "width", "height", "faces": [{"box": {...}, "score"?,
                          "landmarks": [[x, y] x 68], "reliable", "problems"?}]}]
                      ("score": the learned detector's, with --detector cnn only)
                      a file that failed appears as {"file", "error": {"code", "message"}}
  --model FILE        Landmark model (ONNX with MoodLens metadata; default: the shipped
                      models/landmarks/landmarks.onnx)
${DETECTOR_HELP}
  -h, --help          Show this help

"reliable" says whether the points pass plausibility checks (eye distance against the
box, roll, left-right and top-down order of the parts); alignment uses only reliable ones.
No face in an image is a normal result (an empty list and a note on stderr).
Exit codes: 0 every image was read, 1 some image or the model failed, 2 usage error.

Examples:
  moodlens landmarks examples/astronaut.png
  moodlens landmarks --json photos/*.jpg > landmarks.json
`;

const OPTIONS = { json: { type: 'boolean' }, model: { type: 'string' }, ...DETECTOR_OPTIONS } as const;

export interface LandmarksArgs extends DetectorFlags {
  readonly inputs: readonly string[];
  readonly json: boolean;
  readonly model: string | undefined;
}

/** Parses `moodlens landmarks` arguments; throws a usage error (exit 2) naming the flag at fault. */
export function parseLandmarksArgs(args: readonly string[]): LandmarksArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, DETECTOR_NUMERIC_OPTIONS);
  if (positionals.length === 0) throw usageError('No input images given');
  if (values.model === '') throw usageError('Expected a path for --model but received an empty string');
  return {
    inputs: positionals,
    json: values.json === true,
    model: values.model,
    ...parseDetectorFlags(values),
  };
}

/** `moodlens landmarks`: loads detector and landmark model once, then prints the points of each face. */
export async function runLandmarks(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseLandmarksArgs(args);
  const modelPath = resolveLandmarkModel(parsed.model, 'moodlens landmarks', '--model');
  const landmarker = await loadLandmarkDetector(modelPath);
  let detector: ClosableFaceDetector | undefined;
  try {
    detector = await openFaceDetector(parsed);
    const faceDetector = detector;
    const { failed } = await processImages<LandmarksFileResult>(
      'landmarks',
      parsed.inputs,
      parsed,
      io,
      async (file, image) => {
        const boxes = await faceDetector.detect(image, parsed.detectOptions);
        if (boxes.length === 0) io.stderr(`moodlens landmarks: no face found in ${file}\n`);
        const marks = await landmarker.detect(image, boxes);
        const faces = marks.map(({ box, points, reliability }, i): LandmarkFaceResult => ({
          box: { x: box.x, y: box.y, width: box.width, height: box.height },
          ...scoreField(boxScore(boxes[i])),
          landmarks: jsonPoints(points),
          reliable: reliability.reliable,
          ...(reliability.reliable ? {} : { problems: reliability.problems }),
        }));
        const lines = marks
          .map(
            ({ box, points, reliability }, i) =>
              `  face ${i + 1} at x=${box.x} y=${box.y} ${box.width}x${box.height}: 68 points, ` +
              `${reliability.reliable ? 'reliable' : `unreliable (${reliability.problems.join('; ')})`}\n` +
              describePoints(points, '    '),
          )
          .join('');
        return faceListOutcome(file, image, faces, lines);
      },
    );
    return failed > 0 ? EXIT_FAILURE : EXIT_OK;
  } finally {
    await detector?.close();
    await landmarker.dispose();
  }
}

function scoreField(score: number | undefined): { score?: number } {
  return score === undefined ? {} : { score: roundScore(score) };
}

export const landmarksCommand: CliCommand = {
  name: 'landmarks',
  help: HELP,
  run: runLandmarks,
};
