/** The ffmpeg adapter: finding the binary, probing, streaming decode, encoding, and bad inputs. */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isMoodLensError, type ErrorCode } from '../src/core/errors.js';
import { createImage } from '../src/core/image.js';
import { VideoFrameReader, type DecodedFrame } from '../src/io/node/ffmpeg/decode.js';
import { VideoEncoder } from '../src/io/node/ffmpeg/encode.js';
import { locateFfmpeg, packagedFfmpegPath, type FfmpegBinary } from '../src/io/node/ffmpeg/locate.js';
import { probeVideo, type VideoInfo } from '../src/io/node/ffmpeg/probe.js';
import { astronautPath } from './support/fer-scenes.js';
import { ffmpegRun, testPattern, truncateFile } from './support/videos.js';

let ffmpeg: FfmpegBinary;
let dir: string;

before(async () => {
  ffmpeg = await locateFfmpeg();
  dir = await mkdtemp(join(tmpdir(), 'moodlens-ffmpeg-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function decodeAll(info: VideoInfo): Promise<{ frames: DecodedFrame[]; reader: VideoFrameReader }> {
  const reader = VideoFrameReader.open(ffmpeg, info);
  const frames: DecodedFrame[] = [];
  for await (const frame of reader.frames()) frames.push(frame);
  return { frames, reader };
}

async function assertCode(promise: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isMoodLensError(error), String(error));
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

void describe('locateFfmpeg', () => {
  void test('finds the binary shipped in @ffmpeg-installer/ffmpeg after npm ci', async () => {
    const found = await locateFfmpeg({ env: {} });
    assert.equal(found.source, 'package');
    assert.equal(found.path, packagedFfmpegPath());
    assert.match(found.version, /^ffmpeg version /);
  });

  void test('an explicit --ffmpeg or FFMPEG_PATH that does not work is an error naming it', async () => {
    await assertCode(
      locateFfmpeg({ path: join(dir, 'nope') }),
      'MOODLENS_ERR_FFMPEG_NOT_FOUND',
      /--ffmpeg .*nope.*not found/,
    );
    const notFfmpeg = join(dir, 'not-ffmpeg.sh');
    await writeFile(notFfmpeg, '#!/bin/sh\necho hello\n');
    await chmod(notFfmpeg, 0o755);
    await assertCode(
      locateFfmpeg({ env: { FFMPEG_PATH: notFfmpeg } }),
      'MOODLENS_ERR_FFMPEG_NOT_FOUND',
      /FFMPEG_PATH .*does not look like ffmpeg/,
    );
    const viaEnv = await locateFfmpeg({ env: { FFMPEG_PATH: ffmpeg.path } });
    assert.equal(viaEnv.source, 'env');
  });

  void test('falls back to ffmpeg on the PATH, and says how to fix it when there is none', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    const savedPath = process.env.PATH;
    try {
      process.env.PATH = join(dir, 'empty');
      await assertCode(
        locateFfmpeg({ env: {}, usePackage: false }),
        'MOODLENS_ERR_FFMPEG_NOT_FOUND',
        /ffmpeg on the PATH: not found/,
      );
      await symlink(ffmpeg.path, join(bin, 'ffmpeg'));
      process.env.PATH = bin;
      const found = await locateFfmpeg({ env: {}, usePackage: false });
      assert.deepEqual([found.source, found.path], ['path', 'ffmpeg']);
    } finally {
      process.env.PATH = savedPath;
    }
    const error = await locateFfmpeg({ path: join(dir, 'nope') }).catch((e: unknown) => e);
    assert.ok(isMoodLensError(error));
    assert.match(error.hint, /npm ci.*apt-get install ffmpeg.*--ffmpeg PATH or FFMPEG_PATH/);
  });
});

void describe('probe and decode', () => {
  void test('mp4, webm, mkv, avi, mov and GIF: size, rate, every frame, times', async () => {
    const cases: { name: string; codec: string[]; fps: number }[] = [
      { name: 'a.mp4', codec: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'], fps: 25 },
      { name: 'a.webm', codec: ['-c:v', 'libvpx', '-b:v', '300k'], fps: 25 },
      { name: 'a.mkv', codec: ['-c:v', 'libx264'], fps: 25 },
      { name: 'a.avi', codec: ['-c:v', 'mpeg4'], fps: 25 },
      { name: 'a.mov', codec: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'], fps: 25 },
      { name: 'a.gif', codec: ['-r', '10'], fps: 10 },
    ];
    for (const { name, codec, fps } of cases) {
      const file = await testPattern(ffmpeg, join(dir, name), { seconds: 2, size: '160x120', codec });
      const info = await probeVideo(ffmpeg, file);
      assert.deepEqual([info.width, info.height, info.fps], [160, 120, fps], name);
      const { frames, reader } = await decodeAll(info);
      assert.equal(frames.length, 2 * fps, name);
      assert.equal(reader.outcome.complete, true, `${name}: ${reader.outcome.reason}`);
      frames.forEach((frame, i) => {
        assert.equal(frame.index, i);
        assert.ok(Math.abs(frame.time - i / fps) < 1e-3, `${name} frame ${i} at ${frame.time}`);
        assert.deepEqual([frame.image.width, frame.image.height, frame.image.channels], [160, 120, 3]);
      });
    }
  });

  void test('decoded pixels are the video colours (RGB order)', async () => {
    const file = join(dir, 'red.mp4');
    await ffmpegRun(ffmpeg, [
      '-f',
      'lavfi',
      '-i',
      'color=c=0xdc3c28:size=64x48:rate=10',
      '-t',
      '0.5',
      '-c:v',
      'libx264',
      '-pix_fmt',
      'yuv444p',
      '-crf',
      '0',
      file,
    ]);
    const { frames } = await decodeAll(await probeVideo(ffmpeg, file));
    const [r, g, b] = frames[2].image.data.subarray(3 * (24 * 64 + 32));
    assert.ok(
      Math.abs(r - 0xdc) <= 3 && Math.abs(g - 0x3c) <= 3 && Math.abs(b - 0x28) <= 3,
      `${r},${g},${b}`,
    );
  });

  void test('a rotated phone video is decoded upright, with width and height swapped', async () => {
    const plain = await testPattern(ffmpeg, join(dir, 'plain.mp4'), { seconds: 1, size: '160x120' });
    const rotated = join(dir, 'rotated.mp4');
    await ffmpegRun(ffmpeg, ['-i', plain, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated]);
    const info = await probeVideo(ffmpeg, rotated);
    assert.deepEqual([info.width, info.height], [120, 160]);
    const { frames } = await decodeAll(info);
    assert.equal(frames.length, 25);
    assert.deepEqual([frames[0].image.width, frames[0].image.height], [120, 160]);
  });

  void test('variable frame rate: each frame gets its own time', async () => {
    // An MKV whose first frames last 0.1 s and later ones 0.3 s (setpts), kept as decoded.
    const file = join(dir, 'vfr.mkv');
    await ffmpegRun(ffmpeg, [
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=64x48:rate=10',
      '-frames:v',
      '10',
      '-vf',
      "setpts='if(lt(N,5),N,5+(N-5)*3)/10/TB'",
      '-vsync',
      'vfr',
      '-c:v',
      'libx264',
      file,
    ]);
    const { frames } = await decodeAll(await probeVideo(ffmpeg, file));
    assert.equal(frames.length, 10);
    const gaps = frames.slice(1).map((f, i) => Math.round((f.time - frames[i].time) * 100) / 100);
    // Not index / fps: the first gaps are 0.1 s, the later ones about 0.3 s (as the muxer rounded them).
    assert.deepEqual(gaps.slice(0, 5), [0.1, 0.1, 0.1, 0.1, 0.1]);
    for (const gap of gaps.slice(5)) assert.ok(gap >= 0.2 && gap <= 0.4, `gaps ${gaps.join(' ')}`);
  });

  void test('stopping early kills ffmpeg (no hang, no leftover process)', async () => {
    const file = await testPattern(ffmpeg, join(dir, 'long.mp4'), { seconds: 20, size: '160x120' });
    const reader = VideoFrameReader.open(ffmpeg, await probeVideo(ffmpeg, file));
    let count = 0;
    for await (const frame of reader.frames()) {
      assert.equal(frame.index, count);
      if (++count === 3) break;
    }
    assert.equal(reader.outcome.frames, 3);
    assert.equal(reader.outcome.complete, false);
  });

  void test('an ffmpeg that goes silent is stopped by the watchdog', async () => {
    const silent = join(dir, 'silent-ffmpeg.sh');
    await writeFile(silent, '#!/bin/sh\nexec sleep 30\n');
    await chmod(silent, 0o755);
    const info = await probeVideo(ffmpeg, await testPattern(ffmpeg, join(dir, 'b.mp4'), { seconds: 1 }));
    const reader = VideoFrameReader.open({ ...ffmpeg, path: silent }, info, { stallTimeoutMs: 300 });
    const started = performance.now();
    let count = 0;
    for await (const frame of reader.frames()) count += frame.index >= 0 ? 1 : 0;
    assert.equal(count, 0);
    assert.ok(performance.now() - started < 5000);
    assert.equal(reader.outcome.complete, false);
    assert.match(reader.outcome.reason ?? '', /produced nothing for 0\.3 s/);
  });
});

void describe('bad inputs', () => {
  void test('missing, directory, empty, not a video, still image, audio only: coded errors', async () => {
    await assertCode(
      probeVideo(ffmpeg, join(dir, 'missing.mp4')),
      'MOODLENS_ERR_FILE_NOT_FOUND',
      /missing\.mp4/,
    );
    await assertCode(probeVideo(ffmpeg, dir), 'MOODLENS_ERR_NOT_A_FILE', /Not a file/);
    const empty = join(dir, 'empty.mp4');
    await writeFile(empty, '');
    await assertCode(probeVideo(ffmpeg, empty), 'MOODLENS_ERR_EMPTY_INPUT', /empty\.mp4 has no bytes/);
    const text = join(dir, 'notes.mp4');
    await writeFile(text, 'these are not the frames you are looking for\n');
    await assertCode(probeVideo(ffmpeg, text), 'MOODLENS_ERR_NOT_A_VIDEO', /Not a video: .*notes\.mp4/);
    const txt = join(dir, 'notes.txt');
    await writeFile(txt, 'ffmpeg opens .txt files as ANSI art\n');
    await assertCode(probeVideo(ffmpeg, txt), 'MOODLENS_ERR_NOT_A_VIDEO', /still image or text \(tty\)/);
    await assertCode(
      probeVideo(ffmpeg, astronautPath()),
      'MOODLENS_ERR_NOT_A_VIDEO',
      /still image.*moodlens analyze/,
    );
    const audio = join(dir, 'tone.m4a');
    await ffmpegRun(ffmpeg, ['-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '1', audio]);
    await assertCode(probeVideo(ffmpeg, audio), 'MOODLENS_ERR_NOT_A_VIDEO', /No video stream .*audio only/);
  });

  void test('an MP4 cut before its index was written: a coded error saying it is truncated', async () => {
    const whole = await testPattern(ffmpeg, join(dir, 'whole.mp4'), { seconds: 4 });
    const cut = await truncateFile(whole, join(dir, 'cut.mp4'), 0.5);
    await assertCode(probeVideo(ffmpeg, cut), 'MOODLENS_ERR_CORRUPT_VIDEO', /Truncated video: .*moov/);
  });

  void test('truncated streamable MP4 and MKV: the frames before the cut, reported as partial', async () => {
    const cases = [
      { name: 'fast.mp4', codec: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'] },
      { name: 'cut.mkv', codec: ['-c:v', 'libx264'] },
      { name: 'cut.webm', codec: ['-c:v', 'libvpx', '-b:v', '300k'] },
    ];
    for (const { name, codec } of cases) {
      const whole = await testPattern(ffmpeg, join(dir, `whole-${name}`), { seconds: 4, codec });
      const cut = await truncateFile(whole, join(dir, name), 0.5);
      const info = await probeVideo(ffmpeg, cut);
      assert.equal(info.expectedFrames, 100, name);
      const { frames, reader } = await decodeAll(info);
      assert.ok(frames.length > 10 && frames.length < 90, `${name}: ${frames.length} frames`);
      assert.equal(reader.outcome.complete, false, name);
      assert.match(reader.outcome.reason ?? '', new RegExp(`after ${frames.length} frames`), name);
    }
  });
});

void describe('VideoEncoder', () => {
  void test('odd-sized RGB frames become an even-sized H.264 MP4 with every frame', async () => {
    const out = join(dir, 'enc', 'out.mp4');
    const encoder = await VideoEncoder.create(ffmpeg, out, { width: 81, height: 61, fps: 12 });
    for (let i = 0; i < 30; i++) {
      const data = new Uint8Array(81 * 61 * 3).fill(i * 8);
      await encoder.write(createImage(81, 61, 3, data));
    }
    await encoder.finish();
    const info = await probeVideo(ffmpeg, out);
    assert.equal(info.codec, 'h264');
    assert.deepEqual([info.width, info.height, info.fps], [82, 62, 12]);
    const { frames } = await decodeAll(info);
    assert.equal(frames.length, 30);
    // Frame 20 was filled with 160: the encoded gray stays close.
    const centre = frames[20].image.data[3 * (30 * 82 + 40)];
    assert.ok(Math.abs(centre - 160) <= 4, String(centre));
  });

  void test('a wrong frame size is refused; an unwritable output is FFMPEG_FAILED', async () => {
    const encoder = await VideoEncoder.create(ffmpeg, join(dir, 'enc2.mp4'), { width: 8, height: 8, fps: 5 });
    await assert.rejects(encoder.write(createImage(4, 4, 3)), /Expected a 8x8 RGB frame but received 4x4x3/);
    await encoder.abort();
    const blocked = join(dir, 'is-a-dir.mp4');
    await mkdir(blocked, { recursive: true });
    const bad = await VideoEncoder.create(ffmpeg, blocked, { width: 8, height: 8, fps: 5 });
    const failure = (async () => {
      for (let i = 0; i < 500; i++) await bad.write(createImage(8, 8, 3));
      await bad.finish();
    })();
    await assertCode(failure, 'MOODLENS_ERR_FFMPEG_FAILED', /could not write .*is-a-dir\.mp4/);
  });
});
