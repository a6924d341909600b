import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MoodLensError } from '../core/errors.js';
import type { Box } from '../core/image.js';
import {
  countsAsFace,
  detectionErrors,
  evaluateDetections,
  type DetectionFigures,
  type EvaluatedImage,
} from '../detect/cnn/evaluation.js';
import { APP_DETECT_OPTIONS } from '../detect/options.js';
import { loadFaceDetector } from '../io/node/cascade-file.js';
import { DEFAULT_CNN_DETECTOR_PATH, loadCnnFaceDetector } from '../io/node/cnn-detector-model.js';
import { readImage } from '../io/node/read-image.js';
import {
  EXIT_OK,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
} from './main.js';

const HELP = `Usage: moodlens evaluate-detector <images-dir> --boxes <json> [options]

Measures a face detector on a folder of photos with labelled face boxes: recall and
precision of the detections scoring at least --min-score, and the all-point average
precision (AP) over every detection, a detection counting when its IoU with a labelled
face (each used once, best score first) is at least --iou.

The boxes file is one JSON object: each image file name in the folder (.jpg, .jpeg,
.png, .webp, .tif, .tiff, .gif) maps to its faces as [x, y, width, height] in image
pixels; a photo without faces maps to []:
  {"group.jpg": [[120, 40, 64, 70], [300, 52, 60, 66]], "street.png": []}
Every image of the folder needs an entry, and every entry an image.

Options:
  --boxes FILE         The labelled boxes (required)
  --detector NAME      cnn (default): the learned detector of --model, run at the long
                       side its metadata gives; haar: the Haar cascade with the
                       settings analyze, video and the server use (4 neighbours)
  --model FILE         cnn: the detector ONNX file (default: the shipped
                       models/detector/face-detector.onnx); haar: a cascade XML file
                       (default: OpenCV's frontal face)
  --iou X              IoU a detection needs to count, in (0, 1] (default 0.5)
  --min-face PX        Ignore labelled faces smaller than PX (side: the square root of
                       the box area): a detection on one counts neither way, nor does a
                       detection smaller than 0.75 PX that finds no face (default 0:
                       every labelled face counts; MoodLens' own figures use 20)
  --min-score S        cnn: score from which a detection counts for recall and
                       precision, in [0, 1] (default: the model's threshold)
  --mirror             cnn: also run the passes on the mirror image and fuse the two
                       views (default threshold: the model's mirror one)
  --json               Print one JSON object on stdout instead of text: the figures,
                       and per image its counts, false detections (box and score)
                       and missed faces, to look at what went wrong
  -h, --help           Show this help

Haar boxes have no score, so its AP only orders them as found: read recall and precision.

Exit codes: 0 measured, 1 an input or the model failed, 2 usage error.

Examples:
  moodlens evaluate-detector photos/ --boxes boxes.json
  moodlens evaluate-detector photos/ --boxes boxes.json --model my-detector.onnx
  moodlens evaluate-detector photos/ --boxes boxes.json --detector haar --json
`;

const OPTIONS = {
  boxes: { type: 'string' },
  detector: { type: 'string' },
  model: { type: 'string' },
  iou: { type: 'string' },
  'min-face': { type: 'string' },
  'min-score': { type: 'string' },
  mirror: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|tiff?|gif)$/i;

/** The lowest score a CNN detection keeps for AP (as the training code's evaluation). */
const AP_SCORE_FLOOR = 0.05;

/** The parsed and checked arguments of `moodlens evaluate-detector`. */
export interface EvaluateDetectorArgs {
  readonly imagesDir: string;
  readonly boxes: string;
  readonly detector: 'cnn' | 'haar';
  readonly model: string | undefined;
  readonly iou: number;
  readonly minFace: number;
  readonly minScore: number | undefined;
  /** cnn: run the mirror view too (`CnnDetectOptions.mirror`). */
  readonly mirror: boolean;
  readonly json: boolean;
}

/** Parses `moodlens evaluate-detector` arguments; throws a usage error (exit 2) naming the flag at fault. */
export function parseEvaluateDetectorArgs(args: readonly string[]): EvaluateDetectorArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, ['iou', 'min-face', 'min-score']);
  if (positionals.length === 0) throw usageError('No images folder given');
  if (positionals.length > 1)
    throw usageError(`Expected one images folder but received ${positionals.length}`);
  if (values.boxes === undefined) throw usageError('--boxes FILE is required');
  const detector = values.detector ?? 'cnn';
  if (detector !== 'cnn' && detector !== 'haar') {
    throw usageError(`Expected cnn or haar for --detector but received '${detector}'`);
  }
  const iou = values.iou === undefined ? 0.5 : parseNumberOption('--iou', values.iou);
  if (!(iou > 0 && iou <= 1)) throw usageError(`Expected a number in (0, 1] for --iou but received ${iou}`);
  const minFace = values['min-face'] === undefined ? 0 : parseNumberOption('--min-face', values['min-face']);
  if (!(minFace >= 0)) throw usageError(`Expected a number >= 0 for --min-face but received ${minFace}`);
  let minScore: number | undefined;
  if (values['min-score'] !== undefined) {
    if (detector === 'haar')
      throw usageError('--min-score applies to --detector cnn only (Haar has no scores)');
    minScore = parseNumberOption('--min-score', values['min-score']);
    if (!(minScore >= 0 && minScore <= 1)) {
      throw usageError(`Expected a number in [0, 1] for --min-score but received ${minScore}`);
    }
  }
  const mirror = values.mirror === true;
  if (mirror && detector === 'haar') throw usageError('--mirror applies to --detector cnn only');
  return {
    imagesDir: positionals[0],
    boxes: values.boxes,
    detector,
    model: values.model,
    iou,
    minFace,
    minScore,
    mirror,
    json: values.json === true,
  };
}

/**
 * Reads the boxes file: `{"file.jpg": [[x, y, width, height], ...]}`.
 * @throws MoodLensError `MOODLENS_ERR_FILE_NOT_FOUND` for no file, `MOODLENS_ERR_INVALID_DATASET` for
 *   anything but that shape, naming the entry at fault.
 */
export async function readBoxesFile(path: string): Promise<Map<string, Box[]>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new MoodLensError('MOODLENS_ERR_FILE_NOT_FOUND', `Boxes file not found: ${path}`, { cause });
    }
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_DATASET',
      `Boxes file ${path} cannot be read (${code ?? 'error'})`,
      { cause },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new MoodLensError('MOODLENS_ERR_INVALID_DATASET', `Boxes file ${path} is not JSON`, { cause });
  }
  return parseBoxes(parsed, path);
}

/** Checks the parsed boxes JSON (see {@link readBoxesFile}). */
export function parseBoxes(parsed: unknown, source: string): Map<string, Box[]> {
  const bad = (message: string): MoodLensError =>
    new MoodLensError(
      'MOODLENS_ERR_INVALID_DATASET',
      `Boxes file ${source}: ${message}; expected {"file.jpg": [[x, y, width, height], ...], ...}`,
    );
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw bad(
      `the top level is ${Array.isArray(parsed) ? 'an array' : String(parsed === null ? null : typeof parsed)}`,
    );
  }
  const boxes = new Map<string, Box[]>();
  for (const [file, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (!Array.isArray(entry)) throw bad(`"${file}" is not an array of boxes`);
    boxes.set(
      file,
      entry.map((box: unknown, i) => {
        if (
          !Array.isArray(box) ||
          box.length !== 4 ||
          !box.every((v) => typeof v === 'number' && Number.isFinite(v)) ||
          (box[2] as number) <= 0 ||
          (box[3] as number) <= 0
        ) {
          throw bad(
            `box ${i + 1} of "${file}" is ${JSON.stringify(box)}, not [x, y, width, height] with sizes > 0`,
          );
        }
        const [x, y, width, height] = box as number[];
        return { x, y, width, height };
      }),
    );
  }
  return boxes;
}

/** The image files of the folder, sorted by name, each with its boxes entry. */
async function listLabelledImages(dir: string, boxes: Map<string, Box[]>): Promise<string[]> {
  const info = await stat(dir).catch((cause: unknown) => {
    throw new MoodLensError('MOODLENS_ERR_FILE_NOT_FOUND', `Images folder not found: ${dir}`, { cause });
  });
  if (!info.isDirectory()) {
    throw new MoodLensError('MOODLENS_ERR_INVALID_DATASET', `${dir} is a file; give a folder of images`);
  }
  const names = (await readdir(dir, { withFileTypes: true }))
    // links count too (a folder of links to the photos, as training's detector.split_folder makes)
    .filter(
      (e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.') && IMAGE_EXTENSIONS.test(e.name),
    )
    .map((e) => e.name)
    .sort();
  if (names.length === 0) {
    throw new MoodLensError('MOODLENS_ERR_INVALID_DATASET', `${dir} holds no images (.jpg, .png, ...)`);
  }
  const unlabelled = names.filter((name) => !boxes.has(name));
  if (unlabelled.length > 0) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_DATASET',
      `${unlabelled.length} image(s) of ${dir} have no entry in the boxes file: ${unlabelled.slice(0, 5).join(', ')}` +
        `${unlabelled.length > 5 ? ', ...' : ''} (an image without faces needs "name": [])`,
    );
  }
  const missing = [...boxes.keys()].filter((name) => !names.includes(name));
  if (missing.length > 0) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_DATASET',
      `${missing.length} entry(ies) of the boxes file name no image of ${dir}: ${missing.slice(0, 5).join(', ')}` +
        `${missing.length > 5 ? ', ...' : ''}`,
    );
  }
  return names;
}

/** A function that finds scored boxes in an image, and how to free it. */
interface Finder {
  readonly describe: string;
  readonly minScore: number;
  find(image: Awaited<ReturnType<typeof readImage>>): Promise<EvaluatedImage['detections']>;
  close(): Promise<void>;
}

async function openFinder(args: EvaluateDetectorArgs): Promise<Finder> {
  if (args.detector === 'haar') {
    const haar = await loadFaceDetector(args.model);
    return {
      describe: `haar (${basename(haar.source)}, ${APP_DETECT_OPTIONS.minNeighbors} neighbours)`,
      minScore: 0,
      find: (image) =>
        Promise.resolve(haar.detect(image, APP_DETECT_OPTIONS).map((box) => ({ box, score: 1 }))),
      close: () => Promise.resolve(),
    };
  }
  const cnn = await loadCnnFaceDetector(args.model ?? DEFAULT_CNN_DETECTOR_PATH, { mirror: args.mirror });
  const minScore = args.minScore ?? cnn.defaults.scoreThreshold;
  const floor = Math.min(AP_SCORE_FLOOR, minScore);
  return {
    describe:
      `cnn (${basename(cnn.source)}, long side ${cnn.longSide}${args.mirror ? ', mirror view' : ''}, ` +
      `min score ${minScore.toFixed(2)})`,
    minScore,
    find: async (image) =>
      (await cnn.detect(image, { scoreThreshold: floor })).map(({ box, score }) => ({ box, score })),
    close: () => cnn.close(),
  };
}

/** The JSON `moodlens evaluate-detector --json` prints. */
export interface EvaluateDetectorReport extends DetectionFigures {
  readonly detector: 'cnn' | 'haar';
  readonly model: string | undefined;
  readonly perImage: readonly PerImageResult[];
}

/** One image's counts and errors in the `--json` report; boxes are [x, y, width, height] in image pixels. */
export interface PerImageResult {
  readonly file: string;
  readonly faces: number;
  readonly detections: number;
  readonly truePositives: number;
  /** Detections scoring at least the minimum score that found no labelled face. */
  readonly falseDetections: readonly { box: BoxArray; score: number }[];
  /** Labelled faces (at least --min-face) that none of them found. */
  readonly missedFaces: readonly BoxArray[];
}

type BoxArray = [number, number, number, number];

function boxArray(box: Box): BoxArray {
  return [box.x, box.y, box.width, box.height];
}

/** The images with the most errors, for the text report: `a.jpg (2 false, 1 missed)`. */
function worstImages(perImage: readonly PerImageResult[], most: number): string {
  const bad = perImage
    .map((r) => ({ r, n: r.falseDetections.length + r.missedFaces.length }))
    .filter(({ n }) => n > 0)
    .sort((a, b) => b.n - a.n || (a.r.file < b.r.file ? -1 : 1));
  if (bad.length === 0) return 'no errors\n';
  const shown = bad
    .slice(0, most)
    .map(({ r }) => `${r.file} (${r.falseDetections.length} false, ${r.missedFaces.length} missed)`);
  return (
    `${bad.length} image(s) with errors, most first: ${shown.join(', ')}${bad.length > most ? ', ...' : ''}` +
    ' (--json lists their boxes)\n'
  );
}

function percent(value: number): string {
  return `${(100 * value).toFixed(1)}%`;
}

/** `moodlens evaluate-detector`: reads the boxes, then detects and matches image by image. */
export async function runEvaluateDetector(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseEvaluateDetectorArgs(args);
  const boxes = await readBoxesFile(parsed.boxes);
  const names = await listLabelledImages(parsed.imagesDir, boxes);
  const finder = await openFinder(parsed);
  const images: EvaluatedImage[] = [];
  const perImage: PerImageResult[] = [];
  try {
    for (const name of names) {
      const image = await readImage(join(parsed.imagesDir, name));
      const faces = boxes.get(name) ?? [];
      const detections = await finder.find(image);
      images.push({ detections, faces });
      const errors = detectionErrors({ detections, faces }, parsed.iou, finder.minScore, parsed.minFace);
      // every counted face is found once or missed; every counted detection finds one or is false
      const counted = faces.filter((f) => countsAsFace(f, parsed.minFace)).length;
      const truePositives = counted - errors.missedFaces.length;
      perImage.push({
        file: name,
        faces: counted,
        detections: truePositives + errors.falseDetections.length,
        truePositives,
        falseDetections: errors.falseDetections.map((d) => ({ box: boxArray(d.box), score: d.score })),
        missedFaces: errors.missedFaces.map(boxArray),
      });
    }
  } finally {
    await finder.close();
  }
  const figures = evaluateDetections(images, parsed.iou, finder.minScore, parsed.minFace);
  if (parsed.json) {
    const report: EvaluateDetectorReport = {
      detector: parsed.detector,
      model: parsed.model,
      ...figures,
      perImage,
    };
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    io.stdout(
      `detector ${finder.describe}, IoU >= ${parsed.iou}` +
        `${parsed.minFace > 0 ? `, faces under ${parsed.minFace} px ignored` : ''}\n` +
        `images ${figures.images}, faces ${figures.faces}, detections ${figures.detections}\n` +
        `recall ${percent(figures.recall)} (${figures.truePositives}/${figures.faces}), ` +
        `precision ${percent(figures.precision)} (${figures.truePositives}/${figures.detections}), ` +
        `AP ${figures.ap.toFixed(3)}\n` +
        worstImages(perImage, 5),
    );
  }
  return EXIT_OK;
}

export const evaluateDetectorCommand: CliCommand = {
  name: 'evaluate-detector',
  help: HELP,
  run: runEvaluateDetector,
};
