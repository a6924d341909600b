/**
 * A video of two people with known expressions over time, built from REAL FER-2013 PublicTest faces:
 * each person is one face crop (scaled to 130 px) pasted into a real face-free photo, drifting slowly
 * across the scene; person A shows a happy face for the first half and a sad face for the second, person
 * B a surprised face throughout. The faces are the first ones, in file order, that the shipped cascade
 * finds where they were pasted and the shipped model labels with the intended emotion (so the test
 * measures tracking, smoothing and the report, not the model's known mistakes). Encoded with ffmpeg.
 */
import { join } from 'node:path';
import { createImage, type Box, type GrayImage } from '../../src/core/image.js';
import type { Emotion } from '../../src/emotion/labels.js';
import { VideoEncoder } from '../../src/io/node/ffmpeg/encode.js';
import type { FfmpegBinary } from '../../src/io/node/ffmpeg/locate.js';
import type { EmotionPipeline } from '../../src/pipeline/pipeline.js';
import { boxIou } from '../../src/video/tracker.js';
import { ensureFer2013, listFerFaces, loadBackground, pasteFace, readGrayFile } from './fer-scenes.js';

export const PEOPLE_CLIP = Object.freeze({
  width: 480,
  height: 360,
  fps: 30,
  frames: 90,
  side: 130,
  background: 'rocket.jpg',
});

export interface Segment {
  readonly from: number;
  readonly to: number;
  readonly emotion: Emotion;
  /** The FER file shown (relative to the unpacked archive). */
  readonly source: string;
}

export interface Person {
  readonly name: string;
  readonly segments: readonly Segment[];
  /** The pasted square on each frame. */
  readonly boxes: readonly Box[];
}

export interface PeopleClip {
  readonly file: string;
  readonly people: readonly Person[];
}

/** Where a person's face is on frame f: a slow drift (1 px a frame) from a start point. */
function place(start: { x: number; y: number }, dx: number, frame: number): Box {
  return { x: start.x + dx * frame, y: start.y, width: PEOPLE_CLIP.side, height: PEOPLE_CLIP.side };
}

const A_START = { x: 30, y: 60 };
const B_START = { x: 320, y: 170 };

/** Whether `face` pasted at `box` on the background is found there and labelled `emotion`. */
async function works(
  pipeline: EmotionPipeline,
  background: GrayImage,
  face: GrayImage,
  box: Box,
  emotion: Emotion,
): Promise<boolean> {
  const canvas = createImage(background.width, background.height, 1, background.data.slice());
  pasteFace(canvas, face, box.x, box.y, box.width, 0);
  const found = (await pipeline.detector.detect(canvas)).filter((b) => boxIou(b, box) > 0.5);
  if (found.length !== 1) return false;
  const [result] = await pipeline.classifyFaces(canvas, [{ box: found[0] }]);
  return result.emotion.label === emotion && result.emotion.confidence >= 0.6;
}

async function pick(
  pipeline: EmotionPipeline,
  background: GrayImage,
  files: readonly string[],
  root: string,
  emotion: Emotion,
  boxes: readonly Box[],
): Promise<{ source: string; face: GrayImage }> {
  for (const source of files.filter((f) => f.startsWith(`val/${emotion}/`)).slice(0, 300)) {
    const face = await readGrayFile(join(root, source));
    let ok = true;
    for (const box of boxes) if (!(await works(pipeline, background, face, box, emotion))) ok = false;
    if (ok) return { source, face };
  }
  throw new Error(`No PublicTest ${emotion} face found and recognised among the first 300`);
}

/** Builds the clip at `file` (MP4, H.264). */
export async function makePeopleClip(
  ffmpeg: FfmpegBinary,
  pipeline: EmotionPipeline,
  file: string,
): Promise<PeopleClip> {
  const { width, height, frames, fps } = PEOPLE_CLIP;
  const root = await ensureFer2013();
  const files = await listFerFaces();
  const background = await loadBackground(PEOPLE_CLIP.background, width, height);
  const half = frames / 2;
  const aBoxes = Array.from({ length: frames }, (_, f) => place(A_START, 1, f));
  const bBoxes = Array.from({ length: frames }, (_, f) => place(B_START, -1, f));
  // Each face must work at both ends of its path.
  const happy = await pick(pipeline, background, files, root, 'happy', [aBoxes[0], aBoxes[half - 1]]);
  const sad = await pick(pipeline, background, files, root, 'sad', [aBoxes[half], aBoxes[frames - 1]]);
  const surprise = await pick(pipeline, background, files, root, 'surprise', [bBoxes[0], bBoxes[frames - 1]]);

  const encoder = await VideoEncoder.create(ffmpeg, file, { width, height, fps, crf: 16 });
  try {
    for (let f = 0; f < frames; f++) {
      const canvas = createImage(width, height, 1, background.data.slice());
      const a = aBoxes[f];
      pasteFace(canvas, f < half ? happy.face : sad.face, a.x, a.y, a.width, 0);
      const b = bBoxes[f];
      pasteFace(canvas, surprise.face, b.x, b.y, b.width, 0);
      const rgb = new Uint8Array(width * height * 3);
      for (let i = 0; i < canvas.data.length; i++) rgb.fill(canvas.data[i], 3 * i, 3 * i + 3);
      await encoder.write(createImage(width, height, 3, rgb));
    }
    await encoder.finish();
  } catch (error) {
    await encoder.abort();
    throw error;
  }
  return {
    file,
    people: [
      {
        name: 'A',
        boxes: aBoxes,
        segments: [
          { from: 0, to: half - 1, emotion: 'happy', source: happy.source },
          { from: half, to: frames - 1, emotion: 'sad', source: sad.source },
        ],
      },
      {
        name: 'B',
        boxes: bBoxes,
        segments: [{ from: 0, to: frames - 1, emotion: 'surprise', source: surprise.source }],
      },
    ],
  };
}
