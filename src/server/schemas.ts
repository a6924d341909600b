/**
 * The request and response schemas of the HTTP service (TypeBox, i.e. JSON Schema): Fastify validates
 * requests and serialises answers with them, and the OpenAPI document is generated from them.
 */
import { Type, type Static } from 'typebox';
import { ALIGNMENT_MODES } from '../align/aligner.js';
import { APP_DETECT_OPTIONS } from '../detect/options.js';
import { EMOTION_LABELS } from '../emotion/labels.js';
import { DEFAULT_CROP_FACE_OPTIONS } from '../emotion/preprocess.js';
import { DEFAULT_ENHANCE_BELOW, DEFAULT_UPSCALE_BELOW, ENHANCE_MODES } from '../enhance/policy.js';
import { RESTORE_METHODS } from '../enhance/restore.js';

const D = APP_DETECT_OPTIONS;

/**
 * The query options of the analyze routes: `moodlens analyze`'s flags, camel-cased, same ranges and
 * defaults (the detector's are APP_DETECT_OPTIONS: 4 neighbours, not OpenCV's 3).
 */
export const AnalyzeQuerySchema = Type.Object(
  {
    scaleFactor: Type.Optional(
      Type.Number({
        exclusiveMinimum: 1,
        maximum: 4,
        default: D.scaleFactor,
        description:
          'Step between scales of the search pyramid (--scale-factor); smaller is slower and finds more',
      }),
    ),
    minNeighbors: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10_000,
        default: D.minNeighbors,
        description:
          "Overlapping raw hits a face needs (--min-neighbors; 4, OpenCV's default is 3); higher gives fewer " +
          'false faces',
      }),
    ),
    minSize: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        default: D.minSize,
        description: 'Smallest face side in pixels, 0 for no minimum (--min-size)',
      }),
    ),
    maxSize: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        default: D.maxSize,
        description: 'Largest face side in pixels, 0 for up to the image size (--max-size)',
      }),
    ),
    margin: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 2,
        default: DEFAULT_CROP_FACE_OPTIONS.margin,
        description:
          'Extra room around each face for the classifier crop, as a fraction of the box side (--margin)',
      }),
    ),
    flipTta: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Also classify each face mirrored and average the two (--flip-tta)',
      }),
    ),
    align: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          'Turn each face upright by its 68 landmarks before classifying it, falling back to the box crop ' +
          'when they are unreliable; false classifies the plain box crop (--no-align). No effect when the ' +
          'server has no landmark model',
      }),
    ),
    enhance: Type.Optional(
      Type.Enum([...ENHANCE_MODES], {
        default: 'auto',
        description:
          'Restore faces with the FSRNet super-resolution model before classifying them (--enhance): auto ' +
          '(faces whose box side is under enhanceBelow, when the server has the model), always (every face; ' +
          'the server must have the model) or never',
      }),
    ),
    enhanceBelow: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10_000,
        default: DEFAULT_ENHANCE_BELOW,
        description: 'Box side in pixels under which enhance=auto restores a face (--enhance-below)',
      }),
    ),
    upscaleBelow: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10_000,
        default: DEFAULT_UPSCALE_BELOW,
        description:
          'Box side in pixels under which enhance=auto enlarges a face that FSRNet does not restore ' +
          'bicubically (--upscale-below; 0: off)',
      }),
    ),
    keepAllFaces: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Keep every box the detector finds, each with the false-face check\'s verdict as "faceCheck" ' +
          '(--keep-all-faces); by default a box is dropped (listed under "rejected") unless its landmarks ' +
          'look like a face, its eyes are darker than its cheeks and it is no part of a larger face. No ' +
          'check when the server has no landmark model',
      }),
    ),
  },
  { additionalProperties: false },
);
export type AnalyzeQuery = Static<typeof AnalyzeQuerySchema>;

const BoxSchema = Type.Object(
  {
    x: Type.Integer(),
    y: Type.Integer(),
    width: Type.Integer(),
    height: Type.Integer(),
  },
  { description: 'Face box in image pixels' },
);

const ScoresSchema = Type.Object(
  Object.fromEntries(EMOTION_LABELS.map((label) => [label, Type.Number({ minimum: 0, maximum: 1 })])),
  { description: 'Softmax probability of each emotion (they sum to 1)' },
);

const AlignmentSchema = Type.Union(
  [
    Type.Object({
      method: Type.Enum([...ALIGNMENT_MODES]),
      angle: Type.Number({ description: 'Roll undone, degrees, positive = counter-clockwise on screen' }),
      scale: Type.Number({ description: 'Classifier-input pixels per image pixel' }),
      residual: Type.Number({
        description: 'RMS distance of the mapped points from the template, in eye distances',
      }),
    }),
    Type.Object({
      method: Type.Literal('box'),
      reason: Type.String({ description: 'Why the plain box crop was used (landmarks unreliable)' }),
    }),
  ],
  { description: 'How the classifier input was made; absent with align=false or no landmark model' },
);

const FaceSchema = Type.Object({
  box: BoxSchema,
  score: Type.Optional(
    Type.Number({
      minimum: 0,
      maximum: 1,
      description:
        "The learned face detector's score (servers started with --detector cnn); absent with the Haar cascade",
    }),
  ),
  emotion: Type.Object({
    label: Type.Enum([...EMOTION_LABELS]),
    confidence: Type.Number({ minimum: 0, maximum: 1 }),
    scores: ScoresSchema,
  }),
  landmarks: Type.Optional(
    Type.Array(Type.Array(Type.Number(), { minItems: 2, maxItems: 2 }), {
      minItems: 68,
      maxItems: 68,
      description: '68 [x, y] points (iBUG order) in image pixels, when the landmark stage ran',
    }),
  ),
  alignment: Type.Optional(AlignmentSchema),
  enhanced: Type.Boolean({ description: 'Whether FSRNet restored the face before classification' }),
  restoration: Type.Optional(
    Type.Enum([...RESTORE_METHODS], {
      description:
        'How the face was brought to the classifier size: FSRNet, a bicubic enlargement, or the plain ' +
        'crop (absent with enhance=never)',
    }),
  ),
  faceCheck: Type.Optional(
    Type.Object(
      {
        passed: Type.Boolean(),
        problems: Type.Array(Type.String(), { description: 'Each failed check in words' }),
      },
      { description: "The false-face check's verdict (absent when the server has no landmark model)" },
    ),
  ),
});

const RejectedSchema = Type.Object(
  {
    box: BoxSchema,
    problems: Type.Array(Type.String(), { description: 'Each failed check in words' }),
  },
  { description: 'A detector box the false-face check dropped, and why' },
);

export const AnalyzedImageSchema = Type.Object(
  {
    file: Type.String({ description: 'The multipart file name, or "upload" for a raw body' }),
    width: Type.Integer(),
    height: Type.Integer(),
    faces: Type.Array(FaceSchema),
    rejected: Type.Optional(
      Type.Array(RejectedSchema, {
        description: 'Boxes the false-face check dropped (absent with keepAllFaces or without the check)',
      }),
    ),
  },
  { description: 'One image, as `moodlens analyze --json` reports it' },
);

const ErrorDetailSchema = Type.Object({
  code: Type.String({ description: 'A MOODLENS_ERR_... code' }),
  message: Type.String(),
});

export const FailedImageSchema = Type.Object(
  { file: Type.String(), error: ErrorDetailSchema },
  { description: 'An image of a batch that failed, with its coded error' },
);

export const BatchResponseSchema = Type.Array(Type.Union([AnalyzedImageSchema, FailedImageSchema]), {
  description: 'One entry per file, in upload order',
});

export const ErrorResponseSchema = Type.Object(
  { error: ErrorDetailSchema },
  { description: 'A coded error: {"error": {"code", "message"}}' },
);

export const HealthSchema = Type.Object({
  status: Type.Literal('ok'),
  workers: Type.Integer({ description: 'Live inference workers' }),
  busy: Type.Integer({ description: 'Workers running a job' }),
  queued: Type.Integer({ description: 'Jobs waiting for a worker' }),
  admitted: Type.Integer({ description: 'Requests in progress' }),
  restarts: Type.Integer({
    description: 'Workers replaced (timed out, crashed, or recycled after a huge image)',
  }),
  capacity: Type.Integer({ description: 'Most requests in progress before 503 (workers + queue)' }),
  uptimeSeconds: Type.Number(),
});

const AccuracySchema = Type.Object(
  {
    validation: Type.Optional(
      Type.Number({ description: "From the model's ONNX metadata (moodlens.val_accuracy)" }),
    ),
    publicTest: Type.Optional(Type.Number({ description: 'FER-2013 PublicTest, from the model card' })),
    privateTest: Type.Optional(Type.Number({ description: 'FER-2013 PrivateTest, from the model card' })),
    publicTestFlipTta: Type.Optional(
      Type.Number({ description: 'FER-2013 PublicTest with flipTta, from the model card' }),
    ),
  },
  { description: 'Measured top-1 accuracy, 0-1, where known' },
);

export const ModelsSchema = Type.Object({
  models: Type.Array(
    Type.Object({
      name: Type.String(),
      task: Type.Enum([
        'emotion-classification',
        'face-detection',
        'face-landmarks',
        'face-super-resolution',
      ]),
      file: Type.String({ description: 'File name (no path)' }),
      version: Type.String(),
      sha256: Type.String(),
      bytes: Type.Integer(),
      arch: Type.Optional(Type.String()),
      labels: Type.Optional(Type.Array(Type.String())),
      inputSize: Type.Optional(Type.Integer()),
      opset: Type.Optional(Type.Integer()),
      params: Type.Optional(Type.Integer()),
      epoch: Type.Optional(Type.Integer()),
      accuracy: Type.Optional(AccuracySchema),
      card: Type.Optional(Type.String({ description: 'The model card file beside the model' })),
    }),
  ),
});

/** The request bodies the analyze routes take, for the OpenAPI document (bodies are not JSON-validated). */
export const IMAGE_CONTENT_TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/tiff',
  'image/gif',
  'application/octet-stream',
] as const;

const binary = { type: 'string', format: 'binary' } as const;

export function analyzeRequestBody(batch: boolean): Record<string, unknown> {
  const multipart = {
    schema: {
      type: 'object',
      properties: batch ? { files: { type: 'array', items: binary } } : { file: binary },
      description: batch
        ? 'Several file parts (any field names), answered in order'
        : 'One file part (any field name)',
    },
  };
  if (batch) return { content: { 'multipart/form-data': multipart } };
  return {
    content: {
      ...Object.fromEntries(IMAGE_CONTENT_TYPES.map((type) => [type, { schema: binary }])),
      'multipart/form-data': multipart,
    },
  };
}
