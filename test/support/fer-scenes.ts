/**
 * Test scenes with known ground truth, built from REAL faces: FER-2013 PublicTest crops (48x48, gray),
 * scaled up (bilinear) and rotated in-plane, pasted without overlaps into real face-free photos
 * (scikit-image's sample images, as Debian's python3-skimage ships them). Everything is deterministic:
 * files are listed in a fixed order and chosen with a seeded PRNG (mulberry32), never Math.random.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { createImage, type Box, type GrayImage, type Image } from '../../src/core/image.js';
import { EMOTION_LABELS } from '../../src/emotion/labels.js';
import { REPO_ROOT } from './opencv.js';

const execFileAsync = promisify(execFile);

/** Where Debian's python3-skimage keeps its sample photos. Override with MOODLENS_SKIMAGE_DATA. */
export const SKIMAGE_DATA =
  process.env.MOODLENS_SKIMAGE_DATA ?? '/usr/lib/python3/dist-packages/skimage/data';

/** FER-2013 PublicTest archive: `../shared/data/fer2013/` beside the clone. Override with MOODLENS_FER2013_ARCHIVE. */
export const FER2013_ARCHIVE =
  process.env.MOODLENS_FER2013_ARCHIVE ??
  join(REPO_ROOT, '..', 'shared', 'data', 'fer2013', 'fer2013-publictest.tar.gz');

/** Unpacked once here (git-ignored). */
export const FER2013_CACHE = join(REPO_ROOT, '.cache', 'fer2013');

/**
 * Real photos without human faces (checked by eye; OpenCV's frontal cascade finds none in them with
 * its defaults). camera.png and astronaut.png are left out on purpose: they show people.
 */
export const BACKGROUNDS = [
  'coffee.png',
  'rocket.jpg',
  'chelsea.png',
  'motorcycle_left.png',
  'hubble_deep_field.jpg',
  'brick.png',
  'grass.png',
  'moon.png',
] as const;

/** In-plane angles (degrees), cycled over the pasted faces: a third of them upright. */
export const SCENE_ANGLES = [0, 10, -10, 0, 20, -20] as const;

export const DEFAULT_SCENE_SEED = 20130701;

export interface PastedFace {
  /** The face square before rotation (side = pasted side, same centre): what a detector should report. */
  readonly box: Box;
  /** The axis-aligned bounding box of the rotated square: every pixel the paste touched lies in it. */
  readonly bounds: Box;
  /** In-plane rotation in degrees (positive: counter-clockwise as seen on screen). */
  readonly angle: number;
  /** The FER-2013 file, relative to the unpacked archive (e.g. val/happy/PublicTest_123.jpg). */
  readonly source: string;
}

export interface FerScene {
  readonly name: string;
  readonly image: GrayImage;
  readonly background: string;
  readonly faces: readonly PastedFace[];
}

export interface SceneOptions {
  readonly count?: number;
  readonly width?: number;
  readonly height?: number;
  readonly seed?: number;
  readonly facesPerScene?: number;
  readonly minSide?: number;
  readonly maxSide?: number;
}

/** Small, fast, seedable 32-bit PRNG (mulberry32); returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reasons the scene inputs are missing, or none when scenes can be built. */
export function sceneInputsProblem(): string | undefined {
  if (!existsSync(FER2013_ARCHIVE) && !existsSync(join(FER2013_CACHE, 'val'))) {
    return `FER-2013 PublicTest archive not found at ${FER2013_ARCHIVE} (set MOODLENS_FER2013_ARCHIVE)`;
  }
  if (!BACKGROUNDS.some((name) => existsSync(join(SKIMAGE_DATA, name)))) {
    return `scikit-image sample photos not found under ${SKIMAGE_DATA} (apt-get install -y python3-skimage)`;
  }
  return undefined;
}

/** Unpacks the PublicTest archive into .cache/fer2013/ once (atomic: extract aside, then rename). */
export async function ensureFer2013(): Promise<string> {
  const target = join(FER2013_CACHE, 'val');
  if (existsSync(target)) return FER2013_CACHE;
  if (!existsSync(FER2013_ARCHIVE)) throw new Error(`FER-2013 archive not found: ${FER2013_ARCHIVE}`);
  await mkdir(FER2013_CACHE, { recursive: true });
  const scratch = await mkdtemp(join(dirname(FER2013_CACHE), 'fer2013-unpack-'));
  try {
    await execFileAsync('tar', ['xzf', FER2013_ARCHIVE, '-C', scratch]);
    await rename(join(scratch, 'val'), target).catch((error: unknown) => {
      // Another process won the race: its copy is complete, since it is renamed into place only then.
      if (!existsSync(target)) throw error;
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return FER2013_CACHE;
}

/** All PublicTest face files, relative to the cache folder, in a fixed (code-unit) order. */
export async function listFerFaces(): Promise<string[]> {
  const root = await ensureFer2013();
  const files: string[] = [];
  for (const emotion of (await readdir(join(root, 'val'))).sort()) {
    const names = await readdir(join(root, 'val', emotion)).catch(() => [] as string[]);
    for (const name of names.sort()) if (name.endsWith('.jpg')) files.push(`val/${emotion}/${name}`);
  }
  return files;
}

/** `perClass` files of each class (from `listFerFaces`), spread evenly over its sorted files (deterministic). */
export function sampleEvenly(files: readonly string[], perClass: number): string[] {
  return EMOTION_LABELS.flatMap((label) => {
    const own = files.filter((f) => f.split('/')[1] === label);
    const n = Math.min(perClass, own.length);
    return Array.from({ length: n }, (_, i) => own[Math.floor((i * own.length) / n)]);
  });
}

/**
 * OpenCV's COLOR_BGR2GRAY for 8-bit pixels, applied to RGB(A) pixels: OpenCV 4.x rounds with 15-bit
 * weights, (B*3735 + G*19235 + R*9798 + 16384) >> 15. Checked equal to cv2.cvtColor (4.6) on all 2^24
 * colours; the often-quoted 14-bit form (1868, 9617, 4899, >> 14) differs on 43,864 of them (by 1).
 */
export function toGrayOpenCv(image: Image): GrayImage {
  if (image.channels === 1) return image as GrayImage;
  const { width, height, channels, data } = image;
  const out = new Uint8Array(width * height);
  for (let i = 0, j = 0; i < out.length; i++, j += channels) {
    out[i] = (data[j + 2] * 3735 + data[j + 1] * 19235 + data[j] * 9798 + 16384) >> 15;
  }
  return createImage(width, height, 1, out);
}

/**
 * Decodes any image file sharp reads into an Image (alpha dropped), ignoring embedded ICC profiles as
 * cv2.imread does (checked byte-equal to cv2.imread on astronaut.png, which carries an sRGB iCCP chunk).
 */
export async function readImageFile(path: string): Promise<Image> {
  const { data, info } = await sharp(path, { ignoreIcc: true })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 1 && info.channels !== 3) {
    throw new Error(`Unexpected ${info.channels} channels decoding ${path}`);
  }
  return createImage(
    info.width,
    info.height,
    info.channels,
    new Uint8Array(data.buffer, data.byteOffset, data.length),
  );
}

/** Reads an image file as gray with OpenCV's BGR2GRAY formula. */
export async function readGrayFile(path: string): Promise<GrayImage> {
  return toGrayOpenCv(await readImageFile(path));
}

/** Writes a gray image as an 8-bit grayscale PNG (lossless, so OpenCV reads back the same bytes). */
export async function writeGrayPng(image: GrayImage, path: string): Promise<void> {
  await sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length), {
    raw: { width: image.width, height: image.height, channels: 1 },
  })
    .png({ compressionLevel: 1 })
    .toFile(path);
}

/** examples/astronaut.png if the repo has it, else the same NASA photo from python3-skimage. */
export function astronautPath(): string {
  const local = join(REPO_ROOT, 'examples', 'astronaut.png');
  return existsSync(local) ? local : join(SKIMAGE_DATA, 'astronaut.png');
}

/** The astronaut photo as RGB and as OpenCV-gray (the same bytes go to both engines). */
export async function loadAstronaut(): Promise<{ rgb: Image; gray: GrayImage; path: string }> {
  const path = astronautPath();
  const rgb = await readImageFile(path);
  return { rgb, gray: toGrayOpenCv(rgb), path };
}

/** Scales a gray image to fit inside width x height (bilinear) and pads it, centred, with black. */
export function letterbox(image: GrayImage, width: number, height: number): GrayImage {
  const scale = Math.min(width / image.width, height / image.height);
  const w = Math.round(image.width * scale);
  const h = Math.round(image.height * scale);
  const scaled = resizeBilinear(image, w, h);
  const out = new Uint8Array(width * height);
  const x0 = (width - w) >> 1;
  const y0 = (height - h) >> 1;
  for (let y = 0; y < h; y++) out.set(scaled.data.subarray(y * w, (y + 1) * w), (y + y0) * width + x0);
  return createImage(width, height, 1, out);
}

/** Bilinear resize with pixel-centre alignment (as cv2.resize INTER_LINEAR, in floating point). */
export function resizeBilinear(image: GrayImage, width: number, height: number): GrayImage {
  const out = new Uint8Array(width * height);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      out[y * width + x] = Math.round(sample(image, (x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5));
    }
  }
  return createImage(width, height, 1, out);
}

function sample(image: GrayImage, fx: number, fy: number): number {
  const { width, height, data } = image;
  const cx = Math.min(Math.max(fx, 0), width - 1);
  const cy = Math.min(Math.max(fy, 0), height - 1);
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(x0 + 1, width - 1);
  const y1 = Math.min(y0 + 1, height - 1);
  const ax = cx - x0;
  const ay = cy - y0;
  const top = data[y0 * width + x0] * (1 - ax) + data[y0 * width + x1] * ax;
  const bottom = data[y1 * width + x0] * (1 - ax) + data[y1 * width + x1] * ax;
  return top * (1 - ay) + bottom * ay;
}

/** A real photo, gray, scaled to cover width x height and centre-cropped. */
export async function loadBackground(name: string, width: number, height: number): Promise<GrayImage> {
  const gray = await readGrayFile(join(SKIMAGE_DATA, name));
  const scale = Math.max(width / gray.width, height / gray.height);
  const w = Math.max(width, Math.round(gray.width * scale));
  const h = Math.max(height, Math.round(gray.height * scale));
  const scaled = resizeBilinear(gray, w, h);
  const out = new Uint8Array(width * height);
  const x0 = (w - width) >> 1;
  const y0 = (h - height) >> 1;
  for (let y = 0; y < height; y++) {
    out.set(scaled.data.subarray((y + y0) * w + x0, (y + y0) * w + x0 + width), y * width);
  }
  return createImage(width, height, 1, out);
}

/**
 * Pastes `face` scaled to side x side and rotated by `angle` degrees about its centre, with its unrotated
 * square at (x, y). Inverse mapping with bilinear sampling; pixels outside the rotated square keep the
 * background. Returns the axis-aligned bounds of the rotated square (clipped to the canvas).
 */
export function pasteFace(
  canvas: { width: number; height: number; data: Uint8Array },
  face: GrayImage,
  x: number,
  y: number,
  side: number,
  angle: number,
): Box {
  const bounds = rotatedBounds(x, y, side, angle);
  const cx = x + side / 2;
  const cy = y + side / 2;
  const rad = (angle * Math.PI) / 180;
  const cos = Math.cos(rad);
  const sin = Math.sin(rad);
  const half = side / 2;
  const sx = face.width / side;
  const sy = face.height / side;
  const x1 = Math.min(canvas.width, bounds.x + bounds.width);
  const y1 = Math.min(canvas.height, bounds.y + bounds.height);
  for (let py = Math.max(0, bounds.y); py < y1; py++) {
    for (let px = Math.max(0, bounds.x); px < x1; px++) {
      const dx = px + 0.5 - cx;
      const dy = py + 0.5 - cy;
      // Screen coordinates have y down: a counter-clockwise rotation on screen maps back with this matrix.
      const u = cos * dx - sin * dy;
      const v = sin * dx + cos * dy;
      if (u < -half || u >= half || v < -half || v >= half) continue;
      canvas.data[py * canvas.width + px] = Math.round(
        sample(face, (u + half) * sx - 0.5, (v + half) * sy - 0.5),
      );
    }
  }
  return bounds;
}

/** Axis-aligned integer bounds of the square (x, y, side) rotated by angle degrees about its centre. */
export function rotatedBounds(x: number, y: number, side: number, angle: number): Box {
  const rad = (angle * Math.PI) / 180;
  const extent = (side / 2) * (Math.abs(Math.cos(rad)) + Math.abs(Math.sin(rad)));
  const cx = x + side / 2;
  const cy = y + side / 2;
  const left = Math.floor(cx - extent);
  const top = Math.floor(cy - extent);
  return { x: left, y: top, width: Math.ceil(cx + extent) - left, height: Math.ceil(cy + extent) - top };
}

/**
 * Builds `count` scenes (default 8) of width x height (default 640x480), one per background photo
 * (cycled), each with up to `facesPerScene` (6) FER faces of sides minSide..maxSide (60..140) at angles
 * cycled from SCENE_ANGLES, none overlapping (8 px apart at least), all fully inside the frame.
 * With the defaults OpenCV (4.6, 1.1/3) finds 14 of the 16 upright faces (IoU >= 0.5); larger sides
 * (96..180) found fewer: bilinear upscaling of a 48 px crop blurs the features the cascade keys on.
 */
export async function composeFerScenes(options: SceneOptions = {}): Promise<FerScene[]> {
  const {
    count = 8,
    width = 640,
    height = 480,
    seed = DEFAULT_SCENE_SEED,
    facesPerScene = 6,
    minSide = 60,
    maxSide = 140,
  } = options;
  const problem = sceneInputsProblem();
  if (problem) throw new Error(problem);
  const random = mulberry32(seed);
  const faces = await listFerFaces();
  const backgrounds = BACKGROUNDS.filter((name) => existsSync(join(SKIMAGE_DATA, name)));
  const margin = 8;
  const scenes: FerScene[] = [];
  let angleIndex = 0;
  for (let s = 0; s < count; s++) {
    const background = backgrounds[s % backgrounds.length];
    const image = await loadBackground(background, width, height);
    const pasted: PastedFace[] = [];
    for (let f = 0; f < facesPerScene; f++) {
      const angle = SCENE_ANGLES[angleIndex % SCENE_ANGLES.length];
      const source = faces[Math.floor(random() * faces.length)];
      let placed = false;
      for (let attempt = 0; attempt < 200 && !placed; attempt++) {
        const side = minSide + Math.floor(random() * (maxSide - minSide + 1));
        const extent = rotatedBounds(0, 0, side, angle);
        const x = -extent.x + Math.floor(random() * (width - extent.width + 1));
        const y = -extent.y + Math.floor(random() * (height - extent.height + 1));
        const bounds = rotatedBounds(x, y, side, angle);
        if (
          bounds.x < 0 ||
          bounds.y < 0 ||
          bounds.x + bounds.width > width ||
          bounds.y + bounds.height > height
        ) {
          continue;
        }
        if (pasted.some((other) => overlaps(other.bounds, bounds, margin))) continue;
        const face = await readGrayFile(join(FER2013_CACHE, source));
        pasteFace(image, face, x, y, side, angle);
        pasted.push({ box: { x, y, width: side, height: side }, bounds, angle, source });
        placed = true;
      }
      if (placed) angleIndex++;
    }
    scenes.push({
      name: `fer-scene-${s}-${background.replace(/\.\w+$/, '')}`,
      image,
      background,
      faces: pasted,
    });
  }
  return scenes;
}

function overlaps(a: Box, b: Box, margin: number): boolean {
  return (
    a.x - margin < b.x + b.width &&
    b.x - margin < a.x + a.width &&
    a.y - margin < b.y + b.height &&
    b.y - margin < a.y + a.height
  );
}

/** Intersection over union of two boxes (0 when disjoint). */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}
