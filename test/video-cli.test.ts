/**
 * `moodlens video` and `moodlens report` end to end on the shipped clip with a real face
 * (examples/astronaut-pan.mp4: 240 frames, 640x480; frames 150-161 cut to a photo without a face), and on
 * bad inputs made at test time.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Box } from '../src/core/image.js';
import { VideoFrameReader, type DecodedFrame } from '../src/io/node/ffmpeg/decode.js';
import { locateFfmpeg, type FfmpegBinary } from '../src/io/node/ffmpeg/locate.js';
import { probeVideo } from '../src/io/node/ffmpeg/probe.js';
import { readImage } from '../src/io/node/read-image.js';
import {
  FRAME_CSV_HEADER,
  parseFramesCsv,
  parseFramesJson,
  type FrameRecord,
} from '../src/report/records.js';
import type { SessionReport } from '../src/report/report.js';
import { summarizeSession } from '../src/report/summary.js';
import { hasDefaultEnhanceModel } from '../src/io/node/enhance-model.js';
import { ASTRONAUT_HAAR_BOX, assertAstronautBox } from './support/astronaut-face.js';
import { runCaptured, type Captured } from './support/cli.js';
import { REPO_ROOT } from './support/opencv.js';
import { ffmpegRun, testPattern, truncateFile } from './support/videos.js';

const CLIP = join(REPO_ROOT, 'examples', 'astronaut-pan.mp4');
const FRAMES = 240;
const CUT = { first: 150, last: 161 };

let ffmpeg: FfmpegBinary;
let dir: string;
let out: string;
let run: Captured;
let records: FrameRecord[];
/**
 * The default detector's face side on the still photo over Haar's (95 px): the learned detector frames
 * faces a little wider than the cascade (1 for haar), so the clip's face sizes, measured with Haar, scale by it.
 */
let framing = 1;

async function decodeAll(file: string): Promise<DecodedFrame[]> {
  const frames: DecodedFrame[] = [];
  for await (const frame of VideoFrameReader.open(ffmpeg, await probeVideo(ffmpeg, file)).frames()) {
    frames.push(frame);
  }
  return frames;
}

before(async () => {
  ffmpeg = await locateFfmpeg();
  dir = await mkdtemp(join(tmpdir(), 'moodlens-video-cli-'));
  out = join(dir, 'pan');
  run = await runCaptured(['video', CLIP, '--out', out, '--stills', '0,100,155', '--json']);
  records = parseFramesCsv(await readFile(join(out, 'frames.csv'), 'utf8'));
  const still = await runCaptured(['detect', '--json', join(REPO_ROOT, 'examples', 'astronaut.png')]);
  const [photo] = JSON.parse(still.stdout) as [{ faces: [{ box: Box }] }];
  assertAstronautBox(photo.faces[0].box);
  framing = photo.faces[0].box.width / ASTRONAUT_HAAR_BOX.width;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

void describe('moodlens video on a real clip', () => {
  void test('exits 0 with progress and a speed line on stderr', () => {
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /640x480, 30 fps, 240 frames/);
    assert.match(run.stderr, /240 frames in [\d.]+ s \([\d.]+ fps\)/);
  });

  void test('frames.csv: the documented header, every decoded frame, an empty row for frames without a face', async () => {
    const text = await readFile(join(out, 'frames.csv'), 'utf8');
    assert.equal(text.split('\n')[0], FRAME_CSV_HEADER);
    const decoded = await decodeAll(CLIP);
    assert.equal(decoded.length, FRAMES);
    const frames = [...new Set(records.map((r) => r.frame))];
    assert.deepEqual(frames, [...Array(FRAMES).keys()], 'each frame 0-239, in order');
    for (const frame of decoded) {
      const rows = records.filter((r) => r.frame === frame.index);
      assert.ok(Math.abs(rows[0].time - frame.time) < 1e-3, `time of frame ${frame.index}`);
      const faces = rows.filter((r) => r.track !== null);
      if (faces.length === 0) assert.equal(rows.length, 1, `frame ${frame.index}: one empty row`);
    }
    // The coffee cut has no face: one empty row each (the cascade finds nothing there).
    for (let f = CUT.first; f <= CUT.last; f++) {
      const rows = records.filter((r) => r.frame === f);
      assert.deepEqual(
        rows.map((r) => [r.track, r.label, r.x]),
        [[null, null, null]],
        `frame ${f}`,
      );
    }
  });

  void test('the astronaut keeps track id 1 on every frame she is in, across the 12-frame cut', () => {
    // (The cascade also has brief false hits on her suit, up to 250 px wide: they get other ids.)
    for (let f = 0; f < FRAMES; f++) {
      if (f >= CUT.first && f <= CUT.last) continue;
      const her = records.filter((r) => r.frame === f && r.track === 1);
      assert.equal(her.length, 1, `frame ${f}`);
      // Her face is about 130 to 190 px wide in Haar's framing as the camera zooms.
      const width = her[0].width ?? 0;
      assert.ok(width > 110 * framing && width < 220 * framing, `frame ${f}: ${width} (framing ${framing})`);
    }
    // She moves: the box's x spans more than 100 px over the clip.
    const xs = records.filter((r) => r.track === 1).map((r) => r.x ?? 0);
    assert.ok(Math.max(...xs) - Math.min(...xs) > 100);
    // Smoothed scores sum to 1 (to the CSV's 4 decimals).
    for (const r of records.filter((x) => x.track !== null)) {
      const sum =
        (r.angry ?? 0) +
        (r.disgust ?? 0) +
        (r.fear ?? 0) +
        (r.happy ?? 0) +
        (r.sad ?? 0) +
        (r.surprise ?? 0) +
        (r.neutral ?? 0);
      assert.ok(Math.abs(sum - 1) < 1e-3);
    }
  });

  void test('labelled.mp4: H.264, 640x480, every frame, boxes drawn', async () => {
    const file = join(out, 'labelled.mp4');
    const info = await probeVideo(ffmpeg, file);
    assert.deepEqual([info.codec, info.width, info.height, info.fps], ['h264', 640, 480, 30]);
    const labelled = await decodeAll(file);
    assert.equal(labelled.length, FRAMES);
    const original = await decodeAll(CLIP);
    // On frame 0 the box outline (left edge of track 1's box) changed; a corner of the frame did not.
    const face = records.find((r) => r.frame === 0 && r.track === 1);
    assert.ok(face);
    const diff = (x: number, y: number): number => {
      const i = 3 * (y * 640 + x);
      const a = original[0].image.data;
      const b = labelled[0].image.data;
      return Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
    };
    const edge = Array.from({ length: 20 }, (_, k) => diff(face.x ?? 0, (face.y ?? 0) + 40 + k));
    const corner = Array.from({ length: 20 }, (_, k) => diff(5, 400 + k));
    assert.ok(Math.min(...edge) > 40, `edge diffs ${edge.join(',')}`);
    assert.ok(Math.max(...corner) < 30, `corner diffs ${corner.join(',')}`);
  });

  void test('stills: labelled PNGs of the chosen frames', async () => {
    const names = (await readdir(join(out, 'stills'))).sort();
    assert.deepEqual(names, ['frame_000000.png', 'frame_000100.png', 'frame_000155.png']);
    const still = await readImage(join(out, 'stills', 'frame_000100.png'));
    assert.deepEqual([still.width, still.height], [640, 480]);
  });

  void test('report.json matches the summary of frames.csv; report.html is written', async () => {
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as SessionReport;
    const fromCsv = summarizeSession(records);
    assert.equal(report.summary.frames, FRAMES);
    assert.equal(report.summary.framesWithFaces, fromCsv.framesWithFaces);
    assert.equal(report.summary.tracks.length, fromCsv.tracks.length);
    const [person] = report.summary.tracks;
    assert.equal(person.track, 1);
    assert.equal(person.frames, FRAMES - (CUT.last - CUT.first + 1));
    assert.ok(Math.abs(person.seconds - fromCsv.tracks[0].seconds) < 1e-6);
    assert.equal(person.dominant, fromCsv.tracks[0].dominant);
    // The astronaut smiles throughout (the model: happy 82% on the photo).
    assert.equal(person.dominant, 'happy');
    assert.ok(person.timeShare.happy > 0.9, String(person.timeShare.happy));
    assert.ok(report.model !== undefined && report.model.accuracy > 0.5);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    assert.match(html, /screening aid, not a diagnosis/);
    assert.match(html, /<svg class="timeline" data-track="1"/);
  });

  void test('--json prints the same records plus the raw scores, then the summary', () => {
    const doc = JSON.parse(run.stdout) as {
      file: string;
      video: { width: number; fps: number };
      complete: boolean;
      records: FrameRecord[];
      summary: { frames: number };
    };
    assert.equal(doc.file, CLIP);
    assert.deepEqual([doc.video.width, doc.video.fps], [640, 30]);
    assert.equal(doc.complete, true);
    assert.equal(doc.summary.frames, FRAMES);
    const parsed = parseFramesJson(run.stdout);
    assert.equal(parsed.length, records.length);
    parsed.forEach((r, i) => {
      assert.equal(r.frame, records[i].frame);
      assert.equal(r.track, records[i].track);
      assert.equal(r.label, records[i].label);
      if (r.track !== null) {
        assert.ok(r.raw !== undefined);
        assert.ok(Math.abs((r.happy ?? 0) - (records[i].happy ?? 0)) <= 5e-5);
        // --enhance auto: each face says whether FSRNet restored it (when the model is installed).
        assert.equal(typeof r.enhanced, hasDefaultEnhanceModel() ? 'boolean' : 'undefined');
      }
    });
  });

  void test('moodlens report rebuilds the page and JSON from frames.csv', async () => {
    const page = join(dir, 'again', 'page.html');
    const result = await runCaptured(['report', join(out, 'frames.csv'), '--out', page, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as SessionReport;
    assert.equal(report.summary.tracks[0].dominant, 'happy');
    assert.equal(report.summary.frames, FRAMES);
    assert.match(await readFile(page, 'utf8'), /<svg class="timeline"/);
    const text = await runCaptured(['report', join(out, 'frames.csv'), '--no-html']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /person 1: seen [\d.]+ s .* mostly happy/);
  });
});

void describe('moodlens video: bad inputs', () => {
  void test('empty file, not a video, a photo, audio only, truncated MP4: exit 1 with the coded error, no outputs', async () => {
    const empty = join(dir, 'empty.mp4');
    await writeFile(empty, '');
    const text = join(dir, 'notes.mkv');
    await writeFile(text, 'not a video at all\n'.repeat(50));
    const audio = join(dir, 'tone.m4a');
    await ffmpegRun(ffmpeg, ['-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '1', audio]);
    const cut = await truncateFile(
      await testPattern(ffmpeg, join(dir, 'whole.mp4')),
      join(dir, 'cut.mp4'),
      0.5,
    );
    const cases: [string, RegExp][] = [
      [empty, /MOODLENS_ERR_EMPTY_INPUT/],
      [text, /Not a video: .*MOODLENS_ERR_NOT_A_VIDEO/],
      [join(REPO_ROOT, 'examples', 'astronaut.png'), /still image.*MOODLENS_ERR_NOT_A_VIDEO/],
      [audio, /No video stream .*audio only.*MOODLENS_ERR_NOT_A_VIDEO/],
      [cut, /Truncated video.*MOODLENS_ERR_CORRUPT_VIDEO/],
      [join(dir, 'missing.mp4'), /MOODLENS_ERR_FILE_NOT_FOUND/],
      [dir, /MOODLENS_ERR_NOT_A_FILE/],
    ];
    for (const [input, pattern] of cases) {
      const target = join(dir, 'bad-out');
      const result = await runCaptured(['video', input, '--out', target, '--json']);
      assert.equal(result.code, 1, `${input}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.equal(result.stdout, '', `${input}: nothing on stdout`);
      assert.equal(existsSync(target), false, `${input}: no output folder`);
    }
  });

  void test('a truncated MKV: the frames before the cut are written and reported as partial, exit 1', async () => {
    const whole = await testPattern(ffmpeg, join(dir, 'whole.mkv'), {
      seconds: 4,
      codec: ['-c:v', 'libx264'],
    });
    const cut = await truncateFile(whole, join(dir, 'cut.mkv'), 0.5);
    const target = join(dir, 'partial');
    const result = await runCaptured(['video', cut, '--out', target, '--every', '1']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /Partial result for .*cut\.mkv: the video ends early: (\d+) frames decoded of the 100/,
    );
    const decoded = Number(/(\d+) frames decoded/.exec(result.stderr)?.[1]);
    const rows = parseFramesCsv(await readFile(join(target, 'frames.csv'), 'utf8'));
    assert.equal(new Set(rows.map((r) => r.frame)).size, decoded);
    assert.equal((await decodeAll(join(target, 'labelled.mp4'))).length, decoded);
    assert.match(await readFile(join(target, 'report.html'), 'utf8'), /Partial result\./);
  });

  void test('an animated GIF is a video: the face is found and tracked', async () => {
    const gif = join(dir, 'pan.gif');
    await ffmpegRun(ffmpeg, ['-i', CLIP, '-frames:v', '20', '-vf', 'scale=320:240', '-r', '10', gif]);
    const target = join(dir, 'gif');
    const result = await runCaptured(['video', gif, '--out', target, '--every', '1', '--no-stills']);
    assert.equal(result.code, 0, result.stderr);
    const rows = parseFramesCsv(await readFile(join(target, 'frames.csv'), 'utf8'));
    const frames = new Set(rows.map((r) => r.frame));
    assert.ok(frames.size >= 10, `${frames.size} frames`);
    assert.ok(rows.filter((r) => r.track === 1).length >= frames.size - 1);
    assert.equal(existsSync(join(target, 'stills')), false);
  });

  void test('usage errors exit 2 and name the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['video'], /No input video given/],
      [['video', CLIP, '--every', '0'], /integer >= 1 for --every but received 0/],
      [['video', CLIP, '--smoothing', '1.5'], /--smoothing but received 1.5/],
      [['video', CLIP, '--stills', '1,x'], /integer for --stills but received 'x'/],
      [['video', CLIP, '--stills-every', '0'], /--stills-every but received 0/],
      [['video', CLIP, '--no-stills', '--stills', '1'], /--no-stills cannot be combined/],
      [['video', CLIP, CLIP], /Expected one video but received 2/],
      [['report'], /No records file given/],
      [['report', CLIP, '--min-seconds', '-1'], /--min-seconds but received -1/],
    ];
    for (const [argv, pattern] of cases) {
      const result = await runCaptured(argv);
      assert.equal(result.code, 2, argv.join(' '));
      assert.match(result.stderr, pattern);
    }
    const noFfmpeg = await runCaptured(['video', CLIP, '--ffmpeg', join(dir, 'no-ffmpeg')]);
    assert.equal(noFfmpeg.code, 1);
    assert.match(noFfmpeg.stderr, /--ffmpeg .*no-ffmpeg.*MOODLENS_ERR_FFMPEG_NOT_FOUND[\s\S]*npm ci/);
  });

  void test('moodlens report: malformed records exit 1 naming the line', async () => {
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, `${FRAME_CSV_HEADER}\n0,0.000,1,10,10,50,50,joyful,0.9,0,0,0,0.9,0,0,0.1\n`);
    const result = await runCaptured(['report', bad]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /line 2: .*label .*'joyful'.*MOODLENS_ERR_INVALID_FRAMES/);
    const headerOnly = join(dir, 'header.csv');
    await writeFile(headerOnly, `${FRAME_CSV_HEADER}\n`);
    const empty = await runCaptured(['report', headerOnly]);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /no records/);
  });
});
