/**
 * Memory of `moodlens video` on a long video: the shipped 8-second clip looped (ffmpeg -stream_loop, no
 * re-encoding) to `--minutes` (default 10.7: 80 loops, 19,200 frames of a real face), run through the CLI
 * with its defaults (labelled video, CSV, report) in a child process, whose resident memory (and that of
 * its ffmpeg children) is sampled from /proc every second. Linux only.
 *
 *   npm run bench:video-memory -- [--minutes M] [--every N] [--json]
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { locateFfmpeg } from '../src/io/node/ffmpeg/locate.js';
import { REPO_ROOT } from '../test/support/opencv.js';
import { ffmpegRun } from '../test/support/videos.js';
import { VIDEO_BENCH_CLIP } from './video.js';
import { runStudy, studyArgs } from './study-cli.js';

interface Sample {
  readonly seconds: number;
  readonly frames: number;
  /** Resident memory of the node process, MiB. */
  readonly nodeMiB: number;
  /** Node plus its ffmpeg children, MiB. */
  readonly totalMiB: number;
}

async function rssMiB(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

/** Direct children of `pid` (the ffmpeg decoder and encoder). */
async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // The process ended while listing.
    }
  }
  return out;
}

const USAGE = `Usage: npm run bench:video-memory -- [--minutes M] [--every N] [--json]
Resident memory of \`moodlens video\` (and its ffmpeg children), sampled every second, over a long clip
(default 10.7 minutes of a real face; Linux only).`;

async function main(): Promise<void> {
  const values = studyArgs(USAGE, {
    minutes: { type: 'string', default: '10.7' },
    every: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const minutes = Number(values.minutes);
  const loops = Math.max(1, Math.round((minutes * 60) / 8));
  const ffmpeg = await locateFfmpeg();
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-video-memory-'));
  try {
    const long = join(dir, 'long.mp4');
    await ffmpegRun(ffmpeg, ['-stream_loop', String(loops - 1), '-i', VIDEO_BENCH_CLIP, '-c', 'copy', long]);
    const args = [
      join(REPO_ROOT, 'bin', 'moodlens.js'),
      'video',
      long,
      '--out',
      join(dir, 'out'),
      '--no-stills',
    ];
    if (values.every !== undefined) args.push('--every', values.every);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let frames = 0;
    let total = 0;
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-2000);
      for (const m of text.matchAll(/video (\d+)\/(\d+)/g)) [frames, total] = [Number(m[1]), Number(m[2])];
    });
    child.stdout.resume();
    const started = performance.now();
    const samples: Sample[] = [];
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (done || child.pid === undefined) break;
      const nodeMiB = await rssMiB(child.pid);
      let totalMiB = nodeMiB;
      for (const pid of await childrenOf(child.pid)) totalMiB += await rssMiB(pid);
      samples.push({ seconds: (performance.now() - started) / 1000, frames, nodeMiB, totalMiB });
      if (samples.length % 30 === 0) {
        process.stderr.write(
          `${frames}/${total} frames, node ${nodeMiB.toFixed(0)} MiB, with ffmpeg ${totalMiB.toFixed(0)} MiB\n`,
        );
      }
    }
    const code = await exited;
    if (code !== 0) throw new Error(`moodlens video exited ${code}: ${stderr}`);
    const seconds = (performance.now() - started) / 1000;
    // While frames stream (until the last progress line), then the end: encoder flush and the report.
    const lastProgress = samples.findIndex((x) => x.frames === samples[samples.length - 1].frames);
    const streaming = samples.slice(0, Math.max(1, lastProgress + 1));
    const at = (fraction: number): Sample =>
      streaming.find((x) => x.frames >= fraction * total) ?? streaming[streaming.length - 1];
    const checkpoints = [0.1, 0.25, 0.5, 0.75, 0.95].map((f) => ({ fraction: f, ...at(f) }));
    // Growth while streaming, from 10% on (after start-up), in MiB per 1,000 frames (least squares).
    const steady = streaming.filter((x) => x.frames >= total / 10);
    const mx = steady.reduce((a, x) => a + x.frames, 0) / steady.length;
    const my = steady.reduce((a, x) => a + x.nodeMiB, 0) / steady.length;
    const slope =
      steady.reduce((a, x) => a + (x.frames - mx) * (x.nodeMiB - my), 0) /
      Math.max(
        1e-9,
        steady.reduce((a, x) => a + (x.frames - mx) ** 2, 0),
      );
    const ending = samples.slice(streaming.length);
    const result = {
      machine: {
        cpu: cpus()[0]?.model.trim() ?? 'unknown',
        cores: cpus().length,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
      },
      video: { loops, frames: total, seconds: loops * 8, width: 640, height: 480 },
      runSeconds: seconds,
      fps: total / seconds,
      streamingMaxNodeMiB: Math.max(...streaming.map((x) => x.nodeMiB)),
      streamingMaxTotalMiB: Math.max(...streaming.map((x) => x.totalMiB)),
      endPeakNodeMiB: Math.max(0, ...ending.map((x) => x.nodeMiB)),
      growthMiBPer1000Frames: slope * 1000,
      checkpoints,
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const m = result.machine;
    process.stdout.write(
      `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}\n` +
        `moodlens video on ${total} frames (${((loops * 8) / 60).toFixed(1)} min, 640x480, a face in 95% of frames), ` +
        `${seconds.toFixed(0)} s (${result.fps.toFixed(1)} fps)\n` +
        checkpoints
          .map(
            (c) =>
              `  at ${(c.fraction * 100).toFixed(0).padStart(3)}% (${c.frames} frames): node ${c.nodeMiB.toFixed(0)} MiB, ` +
              `node + ffmpeg ${c.totalMiB.toFixed(0)} MiB`,
          )
          .join('\n') +
        `\n  while streaming: max node ${result.streamingMaxNodeMiB.toFixed(0)} MiB, node + ffmpeg ` +
        `${result.streamingMaxTotalMiB.toFixed(0)} MiB; growth ${result.growthMiBPer1000Frames.toFixed(2)} MiB per 1,000 frames` +
        `\n  at the end (encoder flush, report): peak node ${result.endPeakNodeMiB.toFixed(0)} MiB\n`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

runStudy('bench:video-memory', main);
