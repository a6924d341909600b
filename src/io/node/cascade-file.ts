import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { MoodLensError } from '../../core/errors.js';
import { HaarFaceDetector, type HaarEngine } from '../../detect/detector.js';

/** The cascade the source pipeline names; resolved from the package, never from the working directory. */
export const DEFAULT_CASCADE_PATH = fileURLToPath(
  new URL('../../../../models/haar/haarcascade_frontalface_default.xml', import.meta.url),
);

/** Reads a cascade XML file, with coded errors for a missing path or a directory. */
export async function readCascadeFile(path: string = DEFAULT_CASCADE_PATH): Promise<string> {
  const info = await stat(path).catch((cause: unknown) => {
    throw new MoodLensError('MOODLENS_ERR_FILE_NOT_FOUND', `Cascade file not found: ${path}`, { cause });
  });
  if (!info.isFile()) {
    throw new MoodLensError('MOODLENS_ERR_NOT_A_FILE', `Cascade path is not a file: ${path}`);
  }
  return readFile(path, 'utf8');
}

/** Loads a Haar face detector from a cascade file (default: OpenCV's frontal-face cascade, shipped). */
export async function loadFaceDetector(
  cascadePath?: string,
  engine: HaarEngine = 'wasm',
): Promise<HaarFaceDetector> {
  const path = cascadePath ?? DEFAULT_CASCADE_PATH;
  return HaarFaceDetector.fromXml(await readCascadeFile(path), path, engine);
}
