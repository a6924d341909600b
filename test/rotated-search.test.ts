/**
 * The rotated search: the geometry of the turned copies, and real FER-2013 faces turned by 30 degrees in
 * real photos, which the upright frontal cascade mostly misses and the rotated search finds, at the right
 * place.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImage, type GrayImage } from '../src/core/image.js';
import { RotatedSearchDetector, rotateImage } from '../src/detect/rotated-search.js';
import { applyAffine } from '../src/image/warp.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import {
  BACKGROUNDS,
  FER2013_CACHE,
  listFerFaces,
  loadBackground,
  pasteFace,
  readGrayFile,
} from './support/fer-scenes.js';

void test('rotateImage: the canvas holds the whole image; its map goes back to the original pixels', () => {
  const data = new Uint8Array(40 * 20);
  data[3 * 40 + 30] = 255; // one bright pixel at (30, 3)
  const gray = createImage(40, 20, 1, data);
  const { image, toOriginal } = rotateImage(gray, 90);
  assert.deepEqual([image.width, image.height], [20, 40]);
  // Turned a quarter counter-clockwise on screen: (30, 3) of a 40x20 image lands at (3, 40 - 1 - 30).
  const at = image.data.indexOf(255);
  assert.deepEqual([at % 20, Math.floor(at / 20)], [3, 9]);
  const [x, y] = applyAffine(toOriginal, 3, 9);
  assert.ok(Math.abs(x - 30) < 1e-9 && Math.abs(y - 3) < 1e-9);
  const tilted = rotateImage(gray, 30);
  assert.equal(tilted.image.width, Math.ceil(40 * Math.cos(Math.PI / 6) + 20 * Math.sin(Math.PI / 6)));
  // The centres correspond.
  const [cx, cy] = applyAffine(
    tilted.toOriginal,
    (tilted.image.width - 1) / 2,
    (tilted.image.height - 1) / 2,
  );
  assert.ok(Math.abs(cx - 19.5) < 1e-9 && Math.abs(cy - 9.5) < 1e-9);
  assert.throws(() => new RotatedSearchDetector({ detect: () => [] }, [0]), /not 0/);
});

void test('faces turned by 30 degrees: the upright search misses most, the rotated search finds them in place', async () => {
  const detector = await loadFaceDetector();
  const search = new RotatedSearchDetector(detector);
  const files = await listFerFaces();
  const side = 120;
  const canvas = 240;
  const near = (b: { x: number; y: number; width: number }): boolean =>
    Math.hypot(b.x + b.width / 2 - canvas / 2, b.y + b.width / 2 - canvas / 2) < side / 4;
  let upright = 0;
  let rotated = 0;
  let total = 0;
  // Faces spread over PublicTest, in face-free photos: those the cascade finds upright, turned both ways.
  for (let i = 0; i < 14; i++) {
    const face = await readGrayFile(join(FER2013_CACHE, files[Math.floor((i * files.length) / 14)]));
    const background = await loadBackground(BACKGROUNDS[i % BACKGROUNDS.length], canvas, canvas);
    const scene = (angle: number): GrayImage => {
      const image = { ...background, data: background.data.slice() };
      pasteFace(image, face, (canvas - side) / 2, (canvas - side) / 2, side, angle);
      return image;
    };
    if (!detector.detect(scene(0), { minSize: 60 }).some(near)) continue;
    for (const angle of [30, -30]) {
      const image = scene(angle);
      total++;
      if (detector.detect(image, { minSize: 60 }).some(near)) upright++;
      const hit = (await search.detectWithAngles(image, { minSize: 60 })).find((h) => near(h.box));
      if (hit !== undefined) {
        rotated++;
        // Found in the copy turned against the face's own turn.
        if (hit.searchAngle !== 0) assert.equal(Math.sign(hit.searchAngle), -Math.sign(angle));
      }
    }
  }
  assert.ok(total >= 16, `${total / 2} of 14 faces found upright`);
  assert.ok(rotated >= 0.85 * total, `rotated search found ${rotated} of ${total}`);
  assert.ok(upright <= 0.4 * total, `upright search found ${upright} of ${total}`);
});
