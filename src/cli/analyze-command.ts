import { basename, extname, join } from 'node:path';
import type { Alignment } from '../align/aligner.js';
import type { Box } from '../core/image.js';
import { APP_DETECT_OPTIONS } from '../detect/options.js';
import { annotateFaces, EMOTION_COLORS } from '../draw/annotate.js';
import { EMOTION_LABELS } from '../emotion/labels.js';
import type { EmotionResult } from '../emotion/classifier.js';
import { DEFAULT_CROP_FACE_OPTIONS } from '../emotion/preprocess.js';
import type { RestoreMethod } from '../enhance/restore.js';
import { checkOutputDirectory } from '../io/node/output-path.js';
import { writeImage } from '../io/node/write-image.js';
import {
  detectorHelp,
  DETECTOR_NUMERIC_OPTIONS,
  DETECTOR_OPTIONS,
  parseDetectorFlags,
  type DetectorFlags,
} from './detector-flags.js';
import {
  ENHANCE_HELP,
  ENHANCE_NUMERIC_OPTIONS,
  ENHANCE_OPTIONS,
  parseEnhanceFlags,
  type EnhanceFlags,
} from './enhance-flags.js';
import { plural, processImages } from './image-batch.js';
import { openPipeline } from './pipeline-stages.js';
import {
  describeAlignment,
  jsonFace,
  jsonRejected,
  type JsonFace,
  type JsonRejected,
} from './landmark-output.js';
import type { FaceCheckMode } from '../pipeline/face-check.js';
import {
  EXIT_FAILURE,
  EXIT_OK,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
} from './main.js';

export const DEFAULT_OUT_DIR = 'images';

/** One entry of `moodlens analyze --json` for an image read successfully (failures are `FileError`). */
export interface AnalyzeFileResult {
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly faces: readonly JsonFace[];
  /** Detector boxes the false-face check dropped, with why (when the check ran). */
  readonly rejected?: readonly JsonRejected[];
  /** The labelled copy written, unless --no-images. */
  readonly output?: string;
}

const HELP = `Usage: moodlens analyze <image...> [options]

Finds each face (OpenCV's Haar cascade, or the learned detector with --detector cnn; then
the false-face check), classifies its emotion
(FER-2013 classes: ${EMOTION_LABELS.join(', ')}) and writes a labelled copy of each image,
each face numbered #1, #2, ... as listed.
A screening aid, never a diagnosis: see the model card for the measured accuracy.

Options:
  --out DIR           Where labelled copies go, as predicted_<name>.png (default ${DEFAULT_OUT_DIR}/)
  --no-images         Do not write labelled copies
  --json              Print one JSON array on stdout:
                        [{"file", "width", "height", "faces": [{"box": {...}, "score"?,
                          "emotion": {"label", "confidence", "scores": {"angry", ...}},
                          "landmarks": [[x, y] x 68], "alignment": {"method", ...},
                          "enhanced": true | false, "restoration",
                          "faceCheck": {"passed", "problems"}}],
                        "rejected": [{"box": {...}, "problems": [...]}]}]
                      a file that failed appears as {"file", "error": {"code", "message"}};
                      "score" is the learned detector's (0-1), with --detector cnn only;
                      "rejected" lists the boxes the false-face check dropped and why;
                      "alignment" is {"method": "rotation", "angle", "scale", "residual"} or
                      {"method": "box", "reason"} (landmarks unreliable: the plain box crop);
                      "enhanced" says whether FSRNet restored the face, "restoration" how the
                      face reached the classifier's size: "fsrnet", "bicubic" or "none"
                      (absent with --enhance never; see --enhance, --upscale-below)
  --model FILE        Emotion model (ONNX with MoodLens metadata), or a shipped one by name:
                      default (fast) or accurate (models/emotion/emotion-ensemble.onnx:
                      2 points better on FER-2013, about 35x slower; see its model card)
  --flip-tta          Also classify each face mirrored and average the two (test-time augmentation)
  --margin M          Extra room around each detected face for the box crop, as a fraction
                      of the box side, >= 0 (default ${DEFAULT_CROP_FACE_OPTIONS.margin})
  --no-align          Classify the plain box crop: no landmarks, no alignment (default: turn
                      each box crop upright by the roll its 68 landmarks give, when the landmark
                      model is installed, falling back to the box crop when they are unreliable)
  --landmark-model FILE
                      Landmark model (default: the shipped models/landmarks/landmarks.onnx)
  --template FILE     Alignment template the roll is fitted against, JSON {"size", "points":
                      [[x, y] x 68]} (default: the shipped models/landmarks/template48.json)
  --draw-landmarks    Draw the 68 points on the labelled copies
  --rotated-search    Also search copies of each image turned by -30, -15, 15 and 30 degrees
                      for faces the upright search misses (about 8x the detection time; the
                      turned copies are gray)
  --keep-all-faces    Keep every box the detector finds, each with the false-face check's verdict
                      in --json ("faceCheck": {"passed": false, "problems": [...]}); default: a box
                      is dropped (listed under "rejected") unless its 68 landmarks look like a face,
                      its eyes are darker than its cheeks and it is no part of a larger face
                      (needs the landmark model; see docs/people-tracking.md)
${ENHANCE_HELP}
${detectorHelp(APP_DETECT_OPTIONS)}
                      (analyze, haar: --min-neighbors defaults to ${APP_DETECT_OPTIONS.minNeighbors}, not OpenCV's 3: with the
                      false-face check, measured fewer false faces; moodlens detect keeps OpenCV's)
  -h, --help          Show this help

No face in an image is a normal result (an empty list and a note on stderr).
Exit codes: 0 every image was read, 1 some image or the model failed, 2 usage error.

Examples:
  moodlens analyze examples/astronaut.png
  moodlens analyze --json --out labelled/ photos/*.jpg > emotions.json
`;

const OPTIONS = {
  json: { type: 'boolean' },
  out: { type: 'string' },
  'no-images': { type: 'boolean' },
  model: { type: 'string' },
  margin: { type: 'string' },
  'flip-tta': { type: 'boolean' },
  'no-align': { type: 'boolean' },
  'landmark-model': { type: 'string' },
  template: { type: 'string' },
  'draw-landmarks': { type: 'boolean' },
  'rotated-search': { type: 'boolean' },
  'keep-all-faces': { type: 'boolean' },
  ...ENHANCE_OPTIONS,
  ...DETECTOR_OPTIONS,
} as const;

export interface AnalyzeArgs extends DetectorFlags, EnhanceFlags {
  readonly inputs: readonly string[];
  readonly json: boolean;
  readonly outDir: string | undefined;
  readonly model: string | undefined;
  readonly margin: number;
  readonly flipAverage: boolean;
  readonly align: boolean;
  readonly landmarkModel: string | undefined;
  readonly template: string | undefined;
  readonly drawLandmarks: boolean;
  readonly rotatedSearch: boolean;
  /** The false-face check: `drop` by default, `mark` with --keep-all-faces. */
  readonly faceCheck: FaceCheckMode;
}

/** Parses `moodlens analyze` arguments; throws a usage error (exit 2) naming the flag at fault. */
export function parseAnalyzeArgs(args: readonly string[]): AnalyzeArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, [
    ...DETECTOR_NUMERIC_OPTIONS,
    ...ENHANCE_NUMERIC_OPTIONS,
    'margin',
  ]);
  if (positionals.length === 0) throw usageError('No input images given');
  let margin = DEFAULT_CROP_FACE_OPTIONS.margin;
  if (values.margin !== undefined) {
    margin = parseNumberOption('--margin', values.margin);
    if (margin < 0 || margin > 2) {
      throw usageError(`Expected a number from 0 to 2 for --margin but received ${values.margin}`);
    }
  }
  for (const flag of ['out', 'model', 'landmark-model', 'template'] as const) {
    if (values[flag] === '') throw usageError(`Expected a path for --${flag} but received an empty string`);
  }
  return {
    inputs: positionals,
    json: values.json === true,
    outDir: values['no-images'] === true ? undefined : (values.out ?? DEFAULT_OUT_DIR),
    model: values.model,
    margin,
    flipAverage: values['flip-tta'] === true,
    align: values['no-align'] !== true,
    landmarkModel: values['landmark-model'],
    template: values.template,
    drawLandmarks: values['draw-landmarks'] === true,
    rotatedSearch: values['rotated-search'] === true,
    faceCheck: values['keep-all-faces'] === true ? 'mark' : 'drop',
    ...parseEnhanceFlags(values),
    ...parseDetectorFlags(values, APP_DETECT_OPTIONS),
  };
}

/** `predicted_<name>.png`, made unique within one run when two inputs share a name. */
function outputName(file: string, taken: Set<string>): string {
  const stem = basename(file, extname(file)) || 'image';
  let name = `predicted_${stem}.png`;
  for (let n = 2; taken.has(name); n++) name = `predicted_${stem}_${n}.png`;
  taken.add(name);
  return name;
}

function percent(value: number): string {
  return `${Math.round(value * 100)}%`;
}

function describeFace(
  face: {
    box: Box;
    emotion: EmotionResult;
    alignment?: Alignment;
    restoration?: RestoreMethod;
    faceCheck?: { passed: boolean; problems: readonly string[] };
  },
  index: number,
): string {
  const { box, emotion, alignment, restoration, faceCheck } = face;
  const others = Object.entries(emotion.scores)
    .filter(([label]) => label !== emotion.label)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([label, p]) => `${label} ${percent(p)}`)
    .join(', ');
  return (
    `  face ${index + 1}: ${emotion.label} ${percent(emotion.confidence)} (then ${others})` +
    ` at x=${box.x} y=${box.y} ${box.width}x${box.height}` +
    `${restoration === 'fsrnet' ? ', restored by FSRNet' : restoration === 'bicubic' ? ', enlarged bicubically' : ''}` +
    `${alignment === undefined ? '' : `, ${describeAlignment(alignment)}`}` +
    `${faceCheck === undefined || faceCheck.passed ? '' : `; FAILED the face check (${faceCheck.problems.join('; ')})`}\n`
  );
}

/** One line per box the false-face check dropped. */
function describeRejected(rejected: { box: Box; faceCheck: { problems: readonly string[] } }): string {
  const { box, faceCheck } = rejected;
  return (
    `  not a face: x=${box.x} y=${box.y} ${box.width}x${box.height} ` +
    `(${faceCheck.problems.slice(0, 2).join('; ')}${faceCheck.problems.length > 2 ? `; ${faceCheck.problems.length - 2} more` : ''})\n`
  );
}

/** `moodlens analyze`: loads the detector and the models once, then detects, classifies and labels each image. */
export async function runAnalyze(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseAnalyzeArgs(args);
  if (parsed.outDir !== undefined) await checkOutputDirectory(parsed.outDir);
  // A model or cascade that cannot load fails the whole command with its code.
  const { pipeline, close } = await openPipeline(
    {
      ...parsed,
      ...(parsed.drawLandmarks ? { landmarksNeededBy: 'moodlens analyze --draw-landmarks' } : {}),
    },
    'moodlens analyze',
    io,
  );
  try {
    const taken = new Set<string>();
    const { failed } = await processImages<AnalyzeFileResult>(
      'analyze',
      parsed.inputs,
      parsed,
      io,
      async (file, image) => {
        const { faces, rejected, checked } = await pipeline.analyzeImage(image);
        if (faces.length === 0) io.stderr(`moodlens analyze: no face found in ${file}\n`);
        let output: string | undefined;
        if (parsed.outDir !== undefined) {
          output = join(parsed.outDir, outputName(file, taken));
          const labelled = annotateFaces(
            image,
            // Numbered as listed (#1, #2, ...), in the emotion's colour.
            faces.map((f, i) => ({
              box: f.box,
              label: `#${i + 1} ${f.emotion.label}`,
              color: EMOTION_COLORS[f.emotion.label],
              confidence: f.emotion.confidence,
              ...(parsed.drawLandmarks && f.landmarks !== undefined ? { points: f.landmarks.points } : {}),
            })),
          );
          await writeImage(output, labelled);
        }
        const entry: AnalyzeFileResult = {
          file,
          width: image.width,
          height: image.height,
          faces: faces.map(jsonFace),
          ...(checked && parsed.faceCheck === 'drop' ? { rejected: rejected.map(jsonRejected) } : {}),
          ...(output === undefined ? {} : { output }),
        };
        return {
          entry,
          faces: faces.length,
          text:
            `${file}: ${plural(faces.length, 'face')} (${image.width}x${image.height})` +
            `${output === undefined ? '' : ` -> ${output}`}\n` +
            faces.map(describeFace).join('') +
            rejected.map(describeRejected).join(''),
        };
      },
    );
    return failed > 0 ? EXIT_FAILURE : EXIT_OK;
  } finally {
    await close();
  }
}

export const analyzeCommand: CliCommand = {
  name: 'analyze',
  help: HELP,
  run: runAnalyze,
};
