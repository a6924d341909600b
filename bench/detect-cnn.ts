/**
 * The learned face detector against the Haar engine (issue 21's speed target: time per 640x480 photo at
 * most the Haar engine's, 1 and 2 threads), in the same run, on the same photos: the astronaut (colour,
 * letterboxed) and FER-2013 scenes (gray). Each detector runs as MoodLens runs it: Haar with the settings
 * of analyze, video and the server (1.1 / 4 neighbours), on the main thread (1T) and over the
 * ParallelFaceDetector's threads; the CNN (default model, its own long side and threshold, its fine pass for
 * small faces and its coarse pass for faces filling the photo when the model has them, NMS, Haar framing)
 * with ONNX Runtime on 1 and on 2 intra-op threads, and on 1 thread with the mirror view (`--mirror`, opt-in:
 * every pass again on the mirror image, the views fused). Times include everything each detector does
 * per photo (the CNN's resize and decoding, Haar's gray conversion and grouping).
 */
import { availableParallelism, cpus } from 'node:os';
import { statSync } from 'node:fs';
import { createImage, type Box, type Image } from '../src/core/image.js';
import { CnnBoxDetector } from '../src/detect/cnn/box-detector.js';
import { MIRROR_VIEW_FLOOR } from '../src/detect/cnn/detector.js';
import { APP_DETECT_OPTIONS } from '../src/detect/options.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import { DEFAULT_CNN_DETECTOR_PATH, loadCnnFaceDetector } from '../src/io/node/cnn-detector-model.js';
import { ParallelFaceDetector } from '../src/io/node/parallel-detector.js';
import {
  composeFerScenes,
  letterbox,
  loadAstronaut,
  sceneInputsProblem,
} from '../test/support/fer-scenes.js';
import { median } from './detect.js';
import type { BenchOptions, BenchSection, Cell, SectionReport } from './run.js';

const WIDTH = 640;
const HEIGHT = 480;
const SCENES = 4;

/** A colour image letterboxed to width x height as `letterbox` does a gray one: each channel alike. */
function letterboxRgb(rgb: Image, width: number, height: number): Image<3> {
  const out = new Uint8Array(width * height * 3);
  for (let c = 0; c < 3; c++) {
    const plane = new Uint8Array(rgb.width * rgb.height);
    for (let i = 0; i < plane.length; i++) plane[i] = rgb.data[i * rgb.channels + c];
    const boxed = letterbox(createImage(rgb.width, rgb.height, 1, plane), width, height);
    for (let i = 0; i < width * height; i++) out[i * 3 + c] = boxed.data[i];
  }
  return createImage(width, height, 3, out);
}

async function benchImages(): Promise<{ name: string; image: Image }[]> {
  const astronaut = await loadAstronaut();
  const images: { name: string; image: Image }[] = [
    { name: 'astronaut, colour (letterboxed)', image: letterboxRgb(astronaut.rgb, WIDTH, HEIGHT) },
    { name: 'astronaut, gray (letterboxed)', image: letterbox(astronaut.gray, WIDTH, HEIGHT) },
  ];
  if (!sceneInputsProblem()) {
    const scenes = await composeFerScenes({ count: SCENES, width: WIDTH, height: HEIGHT });
    for (const scene of scenes) images.push({ name: scene.name, image: scene.image });
  }
  return images;
}

async function run(options: BenchOptions): Promise<SectionReport> {
  const { repeat, warmup, progress } = options;
  const images = await benchImages();
  const threads = Math.min(availableParallelism(), 8);
  const haar = await loadFaceDetector();
  const parallel = await ParallelFaceDetector.create({ threads });
  const cnn1 = new CnnBoxDetector(await loadCnnFaceDetector(DEFAULT_CNN_DETECTOR_PATH));
  const cnn2 = new CnnBoxDetector(
    await loadCnnFaceDetector(DEFAULT_CNN_DETECTOR_PATH, { intraOpNumThreads: 2 }),
  );
  const mirror1 = new CnnBoxDetector(await loadCnnFaceDetector(DEFAULT_CNN_DETECTOR_PATH, { mirror: true }));
  // One view decoded down to the floor each mirror view keeps: how much of the mirror view's cost beyond
  // 2x is the floor (more candidates to decode and sort) rather than the fusion.
  const floor1 = new CnnBoxDetector(await loadCnnFaceDetector(DEFAULT_CNN_DETECTOR_PATH), {
    scoreThreshold: MIRROR_VIEW_FLOOR,
  });
  const time = async (detect: () => Box[] | Promise<Box[]>): Promise<{ ms: number; faces: number }> => {
    for (let i = 0; i < warmup; i++) await detect();
    const runs: number[] = [];
    let faces = 0;
    for (let i = 0; i < repeat; i++) {
      const start = performance.now();
      faces = (await detect()).length;
      runs.push(performance.now() - start);
    }
    return { ms: median(runs), faces };
  };
  const rows: Cell[][] = [];
  const data: Record<string, unknown>[] = [];
  const totals = { haar1: 0, haarN: 0, cnn1: 0, cnn2: 0, mirror1: 0, floor1: 0 };
  try {
    for (const { name, image } of images) {
      const h1 = await time(() => haar.detect(image, APP_DETECT_OPTIONS));
      const hN = await time(() => parallel.detect(image, APP_DETECT_OPTIONS));
      const c1 = await time(() => cnn1.detect(image));
      const c2 = await time(() => cnn2.detect(image));
      const m1 = await time(() => mirror1.detect(image));
      const f1 = await time(() => floor1.detect(image));
      totals.haar1 += h1.ms;
      totals.haarN += hN.ms;
      totals.cnn1 += c1.ms;
      totals.cnn2 += c2.ms;
      totals.mirror1 += m1.ms;
      totals.floor1 += f1.ms;
      progress(`detect-cnn: ${name}: Haar ${h1.ms.toFixed(1)} ms, cnn ${c1.ms.toFixed(1)} ms (1 thread)`);
      rows.push([
        name,
        Number(h1.ms.toFixed(1)),
        Number(c1.ms.toFixed(1)),
        `${(c1.ms / h1.ms).toFixed(2)}x`,
        Number(hN.ms.toFixed(1)),
        Number(c2.ms.toFixed(1)),
        `${(c2.ms / hN.ms).toFixed(2)}x`,
        Number(m1.ms.toFixed(1)),
        `${(m1.ms / h1.ms).toFixed(2)}x`,
        Number(f1.ms.toFixed(1)),
        `${h1.faces}/${c1.faces}/${m1.faces}`,
      ]);
      data.push({
        image: name,
        haar1Ms: h1.ms,
        haarThreadedMs: hN.ms,
        cnn1Ms: c1.ms,
        cnn2Ms: c2.ms,
        mirror1Ms: m1.ms,
        floor1Ms: f1.ms,
        haarFaces: h1.faces,
        cnnFaces: c1.faces,
        mirrorFaces: m1.faces,
      });
    }
  } finally {
    await Promise.all([parallel.close(), cnn1.close(), cnn2.close(), mirror1.close(), floor1.close()]);
  }
  const n = images.length;
  rows.push([
    'mean per photo',
    Number((totals.haar1 / n).toFixed(1)),
    Number((totals.cnn1 / n).toFixed(1)),
    `${(totals.cnn1 / totals.haar1).toFixed(2)}x`,
    Number((totals.haarN / n).toFixed(1)),
    Number((totals.cnn2 / n).toFixed(1)),
    `${(totals.cnn2 / totals.haarN).toFixed(2)}x`,
    Number((totals.mirror1 / n).toFixed(1)),
    `${(totals.mirror1 / totals.haar1).toFixed(2)}x`,
    Number((totals.floor1 / n).toFixed(1)),
    '',
  ]);
  const model = DEFAULT_CNN_DETECTOR_PATH;
  return {
    title: `Learned face detector vs the Haar engine, ${WIDTH}x${HEIGHT} photos (ms per photo; ratio < 1: the CNN is faster)`,
    columns: [
      'image',
      'Haar 1T',
      'cnn 1T',
      'cnn/Haar 1T',
      `Haar ${threads}T`,
      'cnn 2T',
      `cnn/Haar ${threads}T`,
      'cnn+mirror 1T',
      'mirror/Haar 1T',
      `cnn@${MIRROR_VIEW_FLOOR} 1T`,
      'faces Haar/cnn/mirror',
    ],
    rows,
    notes: [
      `Haar: the shipped cascade, scaleFactor 1.1, minNeighbors 4 (analyze's settings), WebAssembly kernel; ${threads}T: ParallelFaceDetector. ` +
        `cnn: ${model} (${Math.round(statSync(model).size / 1024)} KiB), onnxruntime-node, 1 and 2 intra-op threads, ` +
        `resize + inference (plus the model's fine pass for small faces and coarse pass for faces filling the photo, if it has them) + decoding + NMS + framing. CPU: ${cpus()[0]?.model ?? 'unknown'}; shared machines are noisy: compare within one run.`,
      `cnn@${MIRROR_VIEW_FLOOR}: one view (no mirror) decoded down to the floor each view of the mirror view keeps (MIRROR_VIEW_FLOOR); ` +
        'twice it, against cnn+mirror, leaves the cost of mirroring the photo and fusing the views.',
    ],
    data: { width: WIDTH, height: HEIGHT, threads, model, images: data, totals },
  };
}

export const detectCnnSection: BenchSection = {
  name: 'detect-cnn',
  description: 'the learned face detector vs the Haar engine, time per 640x480 photo (1 and 2 threads)',
  run,
};
