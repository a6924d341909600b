/**
 * Where the astronaut's face is in examples/astronaut.png (512x512), for tests of default behaviour that
 * must hold whichever detector is the default (src/detect/detector-kind.ts): Haar's box is exact, the
 * learned detector's box is mapped onto Haar's framing but need not match it to the pixel. Tests of Haar
 * itself (OpenCV parity, exact boxes) run `--detector haar` and compare exactly instead.
 */
import assert from 'node:assert/strict';
import type { Box } from '../../src/core/image.js';
import { iou } from './fer-scenes.js';

/** The box the Haar cascade gives the astronaut's face (the same with OpenCV's and the app's options). */
export const ASTRONAUT_HAAR_BOX: Box = { x: 177, y: 66, width: 95, height: 95 };

/**
 * The overlap either detector's box must have with {@link ASTRONAUT_HAAR_BOX}: the learned detector's
 * box, mapped onto the Haar framing, overlaps it at IoU 0.6 (its side 123 px against 95); a box on
 * anything else than her face overlaps it far less.
 */
export const ASTRONAUT_MIN_IOU = 0.5;

/**
 * Asserts that `box` is the face `reference` marks: IoU at least `minIou` (default
 * {@link ASTRONAUT_MIN_IOU}), so either detector's box passes and a box elsewhere fails.
 */
export function assertNearBox(box: Box, reference: Box, what: string, minIou = ASTRONAUT_MIN_IOU): void {
  const overlap = iou(box, reference);
  assert.ok(
    overlap >= minIou,
    `${what}: ${JSON.stringify(box)} overlaps ${JSON.stringify(reference)} at IoU ${overlap.toFixed(3)} < ${minIou}`,
  );
}

/** Asserts that `box` is the astronaut's face: IoU with Haar's box at least {@link ASTRONAUT_MIN_IOU}. */
export function assertAstronautBox(box: Box, what = 'the astronaut face'): void {
  assertNearBox(box, ASTRONAUT_HAAR_BOX, what);
}

/** A regular expression source matching `box` as the text listings print it: `x=X y=Y WxH`. */
export function boxText(box: Box): string {
  return `x=${box.x} y=${box.y} ${box.width}x${box.height}`;
}
