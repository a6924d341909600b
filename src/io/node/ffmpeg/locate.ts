/**
 * Finding an ffmpeg binary that runs. In order: an explicit path (`--ffmpeg`), the `FFMPEG_PATH`
 * environment variable, the static build inside the `@ffmpeg-installer/ffmpeg` npm package (installed by
 * `npm ci`, nothing downloaded), then `ffmpeg` on the PATH. An explicit path or FFMPEG_PATH that does not
 * run is an error (a choice the user made should not be silently replaced by another binary).
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { MoodLensError } from '../../../core/errors.js';

/** Where a binary came from. */
export type FfmpegSource = 'flag' | 'env' | 'package' | 'path';

export interface FfmpegBinary {
  /** What to spawn: a path, or `ffmpeg` for the PATH lookup. */
  readonly path: string;
  readonly source: FfmpegSource;
  /** The first line of `ffmpeg -version` (e.g. `ffmpeg version 5.1.6-0+deb12u1 ...`). */
  readonly version: string;
}

export interface LocateFfmpegOptions {
  /** An explicit binary (the `--ffmpeg` flag). */
  readonly path?: string;
  /** The environment to read FFMPEG_PATH from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Skip the npm package (tests of the fallbacks). Default true. */
  readonly usePackage?: boolean;
}

/** Seconds `ffmpeg -version` may take before the binary counts as not working. */
const VERSION_TIMEOUT_MS = 10_000;

/** Runs `<path> -version`; resolves to its first line, or rejects with a short reason. */
function versionOf(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, ['-version'], { timeout: VERSION_TIMEOUT_MS, windowsHide: true }, (error, stdout) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        reject(
          new Error(
            code === 'ENOENT'
              ? 'not found'
              : code === 'EACCES'
                ? 'not executable'
                : error.killed
                  ? `did not answer -version within ${VERSION_TIMEOUT_MS / 1000} s`
                  : `-version failed (${error.message.split('\n')[0]})`,
          ),
        );
        return;
      }
      const first = stdout.split('\n')[0].trim();
      if (!/^ffmpeg version /i.test(first)) {
        reject(new Error(`does not look like ffmpeg (-version printed '${first.slice(0, 60)}')`));
        return;
      }
      resolve(first);
    });
  });
}

/** The path of the binary inside @ffmpeg-installer/ffmpeg, or undefined (not installed, other platform). */
export function packagedFfmpegPath(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    // The package throws a plain string on an unsupported platform: any throw means "none".
    const installer = require('@ffmpeg-installer/ffmpeg') as { path?: unknown };
    return typeof installer.path === 'string' ? installer.path : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The first working ffmpeg, or a `MOODLENS_ERR_FFMPEG_NOT_FOUND` error listing every place tried and why
 * each failed.
 */
export async function locateFfmpeg(options: LocateFfmpegOptions = {}): Promise<FfmpegBinary> {
  const env = options.env ?? process.env;
  if (options.path !== undefined) {
    return tryExplicit(options.path, 'flag', '--ffmpeg');
  }
  const fromEnv = env.FFMPEG_PATH;
  if (fromEnv !== undefined && fromEnv !== '') {
    return tryExplicit(fromEnv, 'env', 'FFMPEG_PATH');
  }
  const tried: string[] = [];
  if (options.usePackage !== false) {
    const packaged = packagedFfmpegPath();
    if (packaged === undefined) {
      tried.push('@ffmpeg-installer/ffmpeg: not installed or no binary for this platform');
    } else {
      try {
        return { path: packaged, source: 'package', version: await versionOf(packaged) };
      } catch (error) {
        tried.push(`@ffmpeg-installer/ffmpeg (${packaged}): ${(error as Error).message}`);
      }
    }
  }
  try {
    return { path: 'ffmpeg', source: 'path', version: await versionOf('ffmpeg') };
  } catch (error) {
    tried.push(`ffmpeg on the PATH: ${(error as Error).message}`);
  }
  throw new MoodLensError(
    'MOODLENS_ERR_FFMPEG_NOT_FOUND',
    `No working ffmpeg found. Tried ${tried.join('; ')}`,
  );
}

async function tryExplicit(path: string, source: FfmpegSource, name: string): Promise<FfmpegBinary> {
  try {
    return { path, source, version: await versionOf(path) };
  } catch (error) {
    throw new MoodLensError(
      'MOODLENS_ERR_FFMPEG_NOT_FOUND',
      `The ffmpeg given by ${name} (${path}) does not work: ${(error as Error).message}`,
    );
  }
}
