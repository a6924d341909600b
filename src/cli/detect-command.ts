import type { Box } from '../core/image.js';
import { DEFAULT_DETECTOR } from '../detect/detector-kind.js';
import { boxScore } from '../detect/cnn/box-detector.js';
import { faceListOutcome, processImages, type FaceListEntry } from './image-batch.js';
import {
  DETECTOR_HELP,
  DETECTOR_NUMERIC_OPTIONS,
  DETECTOR_OPTIONS,
  parseDetectorFlags,
  type DetectorFlags,
} from './detector-flags.js';
import { roundScore } from './landmark-output.js';
import { openFaceDetector } from './open-detector.js';
import { EXIT_FAILURE, EXIT_OK, parseCommandArgs, usageError, type CliCommand, type CliIo } from './main.js';

/** One entry of `moodlens detect --json` for an image read successfully (failures are `FileError`). */
export type DetectFileResult = FaceListEntry<{ readonly box: Box; readonly score?: number }>;

const HELP = `Usage: moodlens detect <image...> [options]

Finds faces in each image and prints their boxes in image pixels. With
--detector haar (default ${DEFAULT_DETECTOR}), OpenCV's Haar cascade (same results as
CascadeClassifier.detectMultiScale): the OpenCV-parity command, with OpenCV's defaults
(3 neighbours) and every box the cascade gives, false faces included. analyze, video
and the server use 4 neighbours and drop false faces (see docs/people-tracking.md);
--min-neighbors 4 gives their boxes before that check. With --detector cnn, the
learned detector: every face scoring at least --min-score, each with its score.

Options:
  --json              Print one JSON array on stdout:
                        [{"file", "width", "height", "faces": [{"box": {"x", "y", "width", "height"},
                          "score"?}]}]
                      ("score": the learned detector's, 0-1, with --detector cnn only);
                      a file that failed appears as {"file", "error": {"code", "message"}}
${DETECTOR_HELP}
  -h, --help          Show this help

Progress goes to stderr (a bar on a terminal when there are several images,
otherwise a final count line), so stdout holds only the results.

Exit codes: 0 every image was read, 1 some image failed, 2 usage error.

Examples:
  moodlens detect photo.jpg
  moodlens detect --json --min-size 40 shots/*.png > faces.json
`;

const OPTIONS = { json: { type: 'boolean' }, ...DETECTOR_OPTIONS } as const;

/** The parsed and checked arguments of `moodlens detect`. */
export interface DetectArgs extends DetectorFlags {
  readonly inputs: readonly string[];
  readonly json: boolean;
}

/** Parses `moodlens detect` arguments; throws a usage error (exit 2) naming the flag at fault. */
export function parseDetectArgs(args: readonly string[]): DetectArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, DETECTOR_NUMERIC_OPTIONS);
  if (positionals.length === 0) throw usageError('No input images given');
  return { inputs: positionals, json: values.json === true, ...parseDetectorFlags(values) };
}

function formatBox(face: { box: Box; score?: number }, index: number): string {
  const { box, score } = face;
  return (
    `  face ${index + 1}: x=${box.x} y=${box.y} width=${box.width} height=${box.height}` +
    `${score === undefined ? '' : ` score=${score.toFixed(3)}`}\n`
  );
}

/** `moodlens detect`: loads the detector once, then reads and scans each input in turn. */
export async function runDetect(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseDetectArgs(args);
  // A cascade or model that cannot load fails the whole command (runCli reports it with its code and exit code).
  const detector = await openFaceDetector(parsed);
  try {
    const { failed } = await processImages<DetectFileResult>(
      'detect',
      parsed.inputs,
      parsed,
      io,
      async (file, image) => {
        const boxes = await detector.detect(image, parsed.detectOptions);
        const faces = boxes.map((found) => {
          const { x, y, width, height } = found;
          const score = boxScore(found);
          return {
            box: { x, y, width, height },
            ...(score === undefined ? {} : { score: roundScore(score) }),
          };
        });
        return faceListOutcome(file, image, faces, faces.map(formatBox).join(''));
      },
    );
    return failed > 0 ? EXIT_FAILURE : EXIT_OK;
  } finally {
    await detector.close();
  }
}

export const detectCommand: CliCommand = {
  name: 'detect',
  help: HELP,
  run: runDetect,
};
