/**
 * The astronaut photo (examples/astronaut.png, 512x512, face box 95 px) scaled down with sharp to
 * 120x120, where the cascade finds her face at 26 px: a real small face for the enhance stage.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { astronautPath } from './fer-scenes.js';

export const SMALL_ASTRONAUT_SIDE = 120;

/** The face box the shipped cascade finds in the scaled photo (default options). */
export const SMALL_ASTRONAUT_BOX = { x: 40, y: 14, width: 26, height: 26 };

/** Writes the scaled photo as `dir/small-astronaut.png` and returns its path. */
export async function writeSmallAstronaut(dir: string): Promise<string> {
  const path = join(dir, 'small-astronaut.png');
  await sharp(astronautPath()).resize(SMALL_ASTRONAUT_SIDE, SMALL_ASTRONAUT_SIDE).png().toFile(path);
  return path;
}
