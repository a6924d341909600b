import { basename, extname, join } from 'node:path';
import type { Box, GrayImage } from '../core/image.js';
import { sideBySide } from '../draw/side-by-side.js';
import { nativeFaceCrop } from '../enhance/enhanced-face.js';
import type { FaceEnhancer } from '../enhance/face-enhancer.js';
import { faceSide } from '../enhance/policy.js';
import { toGray } from '../image/gray.js';
import { resizeGrayNearest } from '../image/resize.js';
import { loadFaceEnhancer } from '../io/node/enhance-model.js';
import { checkOutputDirectory } from '../io/node/output-path.js';
import { writeImage } from '../io/node/write-image.js';
import { detectedFace } from '../pipeline/pipeline.js';
import { roundScore } from './landmark-output.js';
import { openFaceDetector, type ClosableFaceDetector } from './open-detector.js';
import {
  DETECTOR_HELP,
  DETECTOR_NUMERIC_OPTIONS,
  DETECTOR_OPTIONS,
  parseDetectorFlags,
  type DetectorFlags,
} from './detector-flags.js';
import { faceListOutcome, processImages, type FaceListEntry } from './image-batch.js';
import {
  EXIT_FAILURE,
  EXIT_OK,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
} from './main.js';

export const DEFAULT_ENHANCE_OUT_DIR = 'enhanced';

/**
 * The restored faces are 48x48, too small to look at: they are written enlarged 4 times by repeating
 * pixels (192x192), which shows exactly the pixels the classifier gets without adding any.
 */
export const DEFAULT_VIEW_SCALE = 4;
const MAX_VIEW_SCALE = 16;

/** One face of `moodlens enhance --json`. */
export interface EnhancedFaceResult {
  readonly box: Box;
  /** The learned detector's score (0-1), with `--detector cnn`; absent with Haar. */
  readonly score?: number;
  /** Side of the square cut from the image (the classifier's crop), in image pixels. */
  readonly crop: number;
  /** FSRNet's face. */
  readonly enhanced: string;
  /** The same crop resized bicubically to the same size. */
  readonly upscaled: string;
  /** Crop, bicubic and FSRNet side by side. */
  readonly comparison: string;
}

/** One entry of `moodlens enhance --json` for an image read successfully (failures are `FileError`). */
export type EnhanceFileResult = FaceListEntry<EnhancedFaceResult>;

const HELP = `Usage: moodlens enhance <image...> [options]

Finds each face (OpenCV's Haar cascade, or the learned detector with --detector cnn), cuts the square the emotion classifier
uses for it at the image's own resolution, and restores it with the FSRNet face
super-resolution model to the classifier's 48x48. For face N of photo.jpg it writes:
  photo_faceN_enhanced.png   FSRNet's face
  photo_faceN_upscaled.png   the same crop resized bicubically (FSRNet's starting point)
  photo_faceN_compare.png    the crop as cut, the bicubic face and FSRNet's, side by side
Both faces are 48x48 enlarged by --scale, repeating pixels, so that what you see is
what the classifier gets. FSRNet was trained on faces shrunk 2 to 4 times (12 to 24
px): it restores small faces; a crop larger than 48 px is averaged down first and
only cleaned. The shipped cascade finds faces from 24 px up (--min-size raises
that). analyze and video use FSRNet for faces under --enhance-below.

Options:
  --out DIR           Where the pictures go (default ${DEFAULT_ENHANCE_OUT_DIR}/)
  --scale N           Enlargement of the 48x48 faces for viewing, integer 1-${MAX_VIEW_SCALE}
                      (default ${DEFAULT_VIEW_SCALE}: 192x192; 1 writes them as the classifier sees them)
  --json              Print one JSON array on stdout:
                        [{"file", "width", "height", "faces": [{"box": {...}, "score"?,
                          "crop", "enhanced", "upscaled", "comparison"}]}]
                      ("crop": side of the square cut, image pixels; "score": the learned
                      detector's, with --detector cnn only; the rest: paths written);
                      a file that failed appears as {"file", "error": {"code", "message"}}
  --enhance-model FILE
                      Super-resolution model (default: the shipped models/enhance/fsrnet.onnx,
                      which brings its specialists fsrnet-x2.onnx and fsrnet-x4.onnx; any other
                      file runs alone)
${DETECTOR_HELP}
  -h, --help          Show this help

No face in an image is a normal result (nothing written and a note on stderr).
Exit codes: 0 every image was read, 1 some image or the model failed, 2 usage error.

Examples:
  moodlens enhance group-photo.jpg
  moodlens enhance --scale 1 --json --out faces/ shots/*.png > faces.json
`;

const OPTIONS = {
  json: { type: 'boolean' },
  out: { type: 'string' },
  scale: { type: 'string' },
  'enhance-model': { type: 'string' },
  ...DETECTOR_OPTIONS,
} as const;

export interface EnhanceArgs extends DetectorFlags {
  readonly inputs: readonly string[];
  readonly json: boolean;
  readonly outDir: string;
  readonly scale: number;
  readonly enhanceModel: string | undefined;
}

/** Parses `moodlens enhance` arguments; throws a usage error (exit 2) naming the flag at fault. */
export function parseEnhanceArgs(args: readonly string[]): EnhanceArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, [...DETECTOR_NUMERIC_OPTIONS, 'scale']);
  if (positionals.length === 0) throw usageError('No input images given');
  for (const flag of ['out', 'enhance-model'] as const) {
    if (values[flag] === '') throw usageError(`Expected a path for --${flag} but received an empty string`);
  }
  let scale = DEFAULT_VIEW_SCALE;
  if (values.scale !== undefined) {
    scale = parseNumberOption('--scale', values.scale, 'integer');
    if (scale < 1 || scale > MAX_VIEW_SCALE) {
      throw usageError(
        `Expected an integer from 1 to ${MAX_VIEW_SCALE} for --scale but received ${values.scale}`,
      );
    }
  }
  return {
    inputs: positionals,
    json: values.json === true,
    outDir: values.out ?? DEFAULT_ENHANCE_OUT_DIR,
    scale,
    enhanceModel: values['enhance-model'],
    ...parseDetectorFlags(values),
  };
}

/** `<stem>`, made unique within one run when two inputs share a name. */
function uniqueStem(file: string, taken: Set<string>): string {
  const base = basename(file, extname(file)) || 'image';
  let stem = base;
  for (let n = 2; taken.has(stem); n++) stem = `${base}_${n}`;
  taken.add(stem);
  return stem;
}

/** The pictures of one face: FSRNet's and the bicubic face at `size * scale`, and the comparison. */
async function writeFacePictures(
  prefix: string,
  crop: GrayImage,
  upscaled: GrayImage,
  enhanced: GrayImage,
  scale: number,
): Promise<Pick<EnhancedFaceResult, 'enhanced' | 'upscaled' | 'comparison'>> {
  const side = enhanced.width * scale;
  const paths = {
    enhanced: `${prefix}_enhanced.png`,
    upscaled: `${prefix}_upscaled.png`,
    comparison: `${prefix}_compare.png`,
  };
  await writeImage(paths.enhanced, resizeGrayNearest(enhanced, side, side));
  await writeImage(paths.upscaled, resizeGrayNearest(upscaled, side, side));
  const panels = [
    { image: crop, label: `crop ${crop.width}px` },
    { image: upscaled, label: 'bicubic' },
    { image: enhanced, label: 'FSRNet' },
  ];
  await writeImage(paths.comparison, sideBySide(panels, { side: Math.max(side, 96) }));
  return paths;
}

/** `moodlens enhance`: loads detector and model once, then restores and writes every face of each image. */
export async function runEnhance(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseEnhanceArgs(args);
  await checkOutputDirectory(parsed.outDir);
  const enhancer: FaceEnhancer = await loadFaceEnhancer(parsed.enhanceModel);
  let detector: ClosableFaceDetector | undefined;
  try {
    detector = await openFaceDetector(parsed);
    const faceDetector = detector;
    const taken = new Set<string>();
    const { failed } = await processImages<EnhanceFileResult>(
      'enhance',
      parsed.inputs,
      parsed,
      io,
      async (file, image) => {
        const gray = toGray(image);
        // The cascade scans gray pixels; the learned detector was trained on colour photos.
        const found = await faceDetector.detect(
          faceDetector.kind === 'cnn' ? image : gray,
          parsed.detectOptions,
        );
        const records = found.map(detectedFace);
        const boxes = records.map((record) => record.box);
        if (boxes.length === 0) io.stderr(`moodlens enhance: no face found in ${file}: nothing written\n`);
        const crops = boxes.map((box) => nativeFaceCrop(gray, box));
        const restored = await enhancer.enhance(crops);
        const stem = boxes.length === 0 ? '' : uniqueStem(file, taken);
        const faces: EnhancedFaceResult[] = [];
        for (const [i, box] of boxes.entries()) {
          const prefix = join(parsed.outDir, `${stem}_face${i + 1}`);
          const paths = await writeFacePictures(
            prefix,
            crops[i],
            enhancer.resized(crops[i]),
            restored[i],
            parsed.scale,
          );
          const { score } = records[i];
          faces.push({
            box,
            ...(score === undefined ? {} : { score: roundScore(score) }),
            crop: crops[i].width,
            ...paths,
          });
        }
        const lines = faces.map((face, i) => describeFace(face, i, enhancer.size)).join('');
        return faceListOutcome(file, image, faces, lines);
      },
    );
    return failed > 0 ? EXIT_FAILURE : EXIT_OK;
  } finally {
    await detector?.close();
    await enhancer.dispose();
  }
}

function describeFace(face: EnhancedFaceResult, index: number, size: number): string {
  const { box, crop } = face;
  const what =
    crop < size
      ? `${crop} px crop restored to ${size} px (x${(size / crop).toFixed(2)})`
      : `${crop} px crop, not small: averaged to ${size} px and only cleaned`;
  return (
    `  face ${index + 1} at x=${box.x} y=${box.y} ${box.width}x${box.height} (side ${faceSide(box)}): ${what}\n` +
    `    -> ${face.enhanced}\n    -> ${face.upscaled}\n    -> ${face.comparison}\n`
  );
}

export const enhanceCommand: CliCommand = {
  name: 'enhance',
  help: HELP,
  run: runEnhance,
};
