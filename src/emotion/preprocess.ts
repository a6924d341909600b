import { createImage, type Box, type GrayImage } from '../core/image.js';
import { resizeGrayLinearExact } from '../image/resize.js';
import { roundHalfEven } from '../image/rounding.js';

/**
 * The emotion model's preprocessing, shared by every entry point (analyze, evaluate, the web app) so that
 * all of them feed the model the same pixels: a square face crop from the gray image, resized to the
 * model's input size, histogram-equalized as OpenCV's `equalizeHist` does (the FER-2013 images were
 * equalized that way), then scaled to float32 as the model's metadata says. Pure and browser-safe.
 */

/** How a crop is resampled to the model's input size. */
export type FaceResample = 'area' | 'bilinear';

/** Pixel scaling of the model input, from the model's `moodlens.scaling` metadata. */
export type PixelScaling = 'v1' | 'v2';

export const PIXEL_SCALINGS: readonly PixelScaling[] = ['v1', 'v2'];

export interface CropFaceOptions {
  /**
   * Extra room around the face on each side, as a fraction of the box's longer side: the crop is a square
   * of side `max(width, height) * (1 + 2 * margin)` centred on the box. 0 or more. Default 0: on FER-2013
   * faces pasted into photos, the Haar cascade's box already frames a face as the FER crops do (25 upright
   * faces: median side ratio crop/box 1.00, mean 1.04, centres within 3% of the side).
   */
  readonly margin?: number;
  /** Side of the output square in pixels (the model's input size). Default 48. */
  readonly size?: number;
  /**
   * `'area'` (default): each output pixel is the exact average of the source area it covers (as OpenCV's
   * INTER_AREA when shrinking; bilinear when enlarging a crop smaller than `size`). `'bilinear'`: OpenCV's
   * bit-exact INTER_LINEAR_EXACT, which samples without averaging when shrinking.
   */
  readonly resample?: FaceResample;
  /** Histogram-equalize the resized crop (default true: the model was trained on equalized faces). */
  readonly equalize?: boolean;
}

/** The defaults of {@link cropFace}, in one place. */
export const DEFAULT_CROP_FACE_OPTIONS: Readonly<Required<CropFaceOptions>> = {
  margin: 0,
  size: 48,
  resample: 'area',
  equalize: true,
};

/**
 * Histogram equalization of an 8-bit gray image, bit-exact with OpenCV's `cv2.equalizeHist` (4.x):
 * the first occupied level `i0` maps to 0 and level `i` to
 * `saturate(cvRound(float32(sum(hist[i0+1..i])) * float32(255 / (total - hist[i0]))))`, the products
 * rounded to float32 as OpenCV computes them and ties rounded to even; an image of one level is returned
 * unchanged (OpenCV fills the output with that level).
 */
export function equalizeHist(gray: GrayImage): GrayImage {
  const { width, height, data } = gray;
  const total = width * height;
  const hist = new Int32Array(256);
  for (let p = 0; p < total; p++) hist[data[p]]++;
  let first = 0;
  while (hist[first] === 0) first++;
  const out = new Uint8Array(total);
  if (hist[first] === total) {
    out.fill(first);
    return createImage(width, height, 1, out);
  }
  const scale = Math.fround(255 / Math.fround(total - hist[first]));
  const lut = new Uint8Array(256);
  let sum = 0;
  for (let i = first + 1; i < 256; i++) {
    sum += hist[i];
    const value = roundHalfEven(Math.fround(Math.fround(sum) * scale));
    lut[i] = value > 255 ? 255 : value;
  }
  for (let p = 0; p < total; p++) out[p] = lut[data[p]];
  return createImage(width, height, 1, out);
}

/** The square, in source pixels, that {@link cropFace} takes for `box`; it may extend past the image. */
export function faceCropSquare(box: Box, margin: number = DEFAULT_CROP_FACE_OPTIONS.margin): Box {
  checkBox(box);
  if (!Number.isFinite(margin) || margin < 0) {
    throw new RangeError(`Expected a number >= 0 for margin but received ${String(margin)}`);
  }
  const side = Math.max(1, Math.round(Math.max(box.width, box.height) * (1 + 2 * margin)));
  // Centred on the box; a half-pixel offset (odd difference of sides) is rounded towards the top left.
  const x = Math.floor(box.x + (box.width - side) / 2);
  const y = Math.floor(box.y + (box.height - side) / 2);
  return { x, y, width: side, height: side };
}

/**
 * Cuts the face square for `box` out of a gray image (see {@link faceCropSquare}), replicating the edge
 * pixels where the square extends past the image (as OpenCV's BORDER_REPLICATE), resizes it to
 * `size` x `size` and equalizes its histogram: the model's input face.
 */
export function cropFace(gray: GrayImage, box: Box, options: CropFaceOptions = {}): GrayImage {
  const { margin, size, resample, equalize } = { ...DEFAULT_CROP_FACE_OPTIONS, ...options };
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`Expected a positive integer for size but received ${String(size)}`);
  }
  if (resample !== 'area' && resample !== 'bilinear') {
    throw new RangeError(`Expected 'area' or 'bilinear' for resample but received ${String(resample)}`);
  }
  const square = faceCropSquare(box, margin);
  const crop = extractReplicated(gray, square);
  let resized: GrayImage;
  if (crop.width === size) resized = crop;
  else if (resample === 'area' && crop.width > size) resized = resizeArea(crop, size);
  else resized = resizeGrayLinearExact(crop, size, size);
  return equalize ? equalizeHist(resized) : resized;
}

function checkBox(box: Box): void {
  for (const key of ['x', 'y', 'width', 'height'] as const) {
    const value = box[key];
    if (!Number.isFinite(value) || ((key === 'width' || key === 'height') && value <= 0)) {
      throw new RangeError(
        `Expected a finite number${key === 'width' || key === 'height' ? ' > 0' : ''} for box.${key} ` +
          `but received ${String(value)}`,
      );
    }
  }
}

/** The pixels of `square` (integer coordinates), edge pixels repeated outside the image. */
function extractReplicated(gray: GrayImage, square: Box): GrayImage {
  const { width, height, data } = gray;
  const side = square.width;
  const out = new Uint8Array(side * side);
  const columns = new Int32Array(side);
  for (let i = 0; i < side; i++) columns[i] = Math.min(Math.max(square.x + i, 0), width - 1);
  for (let row = 0; row < side; row++) {
    const sy = Math.min(Math.max(square.y + row, 0), height - 1) * width;
    const o = row * side;
    for (let i = 0; i < side; i++) out[o + i] = data[sy + columns[i]];
  }
  return createImage(side, side, 1, out);
}

/**
 * Shrinks a square gray image to `size` x `size`, each output pixel the exact mean of the source area it
 * covers (fractional pixels weighted by coverage). Weights are whole numbers (coverage in 1/size of a
 * pixel), so the mean is exact before rounding. Equal to OpenCV's `resize(INTER_AREA)` at every crop side
 * from 48 to 420 tested, except at a few sides (160, 224, 352 on a random image: at most 10 of 2,304
 * pixels, by 1) where OpenCV's float32 weights break an exact tie the other way.
 */
function resizeArea(src: GrayImage, size: number): GrayImage {
  const n = src.width;
  const table = areaTable(n, size);
  // Horizontal pass: row r, output column x = sum of pixels times coverage (in 1/size pixel units).
  const rows = new Float64Array(n * size);
  for (let r = 0; r < n; r++) {
    const base = r * n;
    for (let x = 0; x < size; x++) {
      let sum = 0;
      for (let k = table.start[x]; k < table.start[x + 1]; k++)
        sum += src.data[base + table.index[k]] * table.weight[k];
      rows[r * size + x] = sum;
    }
  }
  const out = new Uint8Array(size * size);
  const denominator = n * n; // each axis's weights sum to n
  // OpenCV rounds an exact 2x reduction half up ((a + b + c + d + 2) >> 2), other ratios half to even.
  const halfUp = n === 2 * size;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let sum = 0;
      for (let k = table.start[y]; k < table.start[y + 1]; k++)
        sum += rows[table.index[k] * size + x] * table.weight[k];
      // Round half to even, as OpenCV's cvRound; exact, since sum and denominator are whole numbers.
      const q = Math.floor(sum / denominator);
      const twice = 2 * (sum - q * denominator);
      out[y * size + x] =
        twice > denominator || (twice === denominator && ((q & 1) === 1 || halfUp)) ? q + 1 : q;
    }
  }
  return createImage(size, size, 1, out);
}

/**
 * For each output index of an area resize from `n` to `size` samples along one axis: the source indices it
 * covers and their coverage in 1/size pixel units (the weights of one output index sum to `n`).
 */
export function areaTable(
  n: number,
  size: number,
): { start: Int32Array; index: Int32Array; weight: Int32Array } {
  const start = new Int32Array(size + 1);
  const index: number[] = [];
  const weight: number[] = [];
  for (let d = 0; d < size; d++) {
    start[d] = index.length;
    // Output pixel d covers [d * n, (d + 1) * n) and source pixel j covers [j * size, (j + 1) * size).
    const lo = d * n;
    const hi = (d + 1) * n;
    for (let j = Math.floor(lo / size); j * size < hi; j++) {
      const overlap = Math.min(hi, (j + 1) * size) - Math.max(lo, j * size);
      if (overlap > 0) {
        index.push(j);
        weight.push(overlap);
      }
    }
  }
  start[size] = index.length;
  return { start, index: Int32Array.from(index), weight: Int32Array.from(weight) };
}

const SCALING_TABLES = new Map<PixelScaling, Float32Array>();

/**
 * The float32 model input of each pixel level 0..255, computed in float32 exactly as the training code
 * does: v1 `x / 255` (in [0, 1]), v2 `(x / 255 - 0.5) * 2` (in [-1, 1], i.e. x / 127.5 - 1).
 */
export function scalingTable(scaling: PixelScaling): Float32Array {
  let table = SCALING_TABLES.get(scaling);
  if (table !== undefined) return table;
  if (scaling !== 'v1' && scaling !== 'v2') {
    throw new RangeError(`Expected 'v1' or 'v2' for scaling but received ${String(scaling)}`);
  }
  table = new Float32Array(256);
  for (let v = 0; v < 256; v++) {
    const unit = Math.fround(v / 255);
    table[v] = scaling === 'v1' ? unit : Math.fround(Math.fround(unit - 0.5) * 2);
  }
  SCALING_TABLES.set(scaling, table);
  return table;
}

/**
 * Packs preprocessed faces (each `size` x `size`, gray) into the model's input tensor: float32, NCHW
 * `[faces.length, 1, size, size]`, pixels scaled as `scaling` says.
 */
export function toInputTensor(faces: readonly GrayImage[], scaling: PixelScaling, size = 48): Float32Array {
  const table = scalingTable(scaling);
  const plane = size * size;
  const out = new Float32Array(faces.length * plane);
  faces.forEach((face, i) => {
    if (face.width !== size || face.height !== size || face.channels !== 1) {
      throw new RangeError(
        `Expected a ${size}x${size} gray face for faces[${i}] but received ` +
          `${face.width}x${face.height} with ${face.channels} channels`,
      );
    }
    const o = i * plane;
    for (let p = 0; p < plane; p++) out[o + p] = table[face.data[p]];
  });
  return out;
}

/** The image mirrored left-right (for test-time augmentation). */
export function mirrorHorizontal(gray: GrayImage): GrayImage {
  const { width, height, data } = gray;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) out[row + x] = data[row + width - 1 - x];
  }
  return createImage(width, height, 1, out);
}
