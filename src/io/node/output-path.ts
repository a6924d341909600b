/**
 * Output folders and files, with coded errors. Node's `mkdir(..., { recursive: true })` never settles
 * under /proc (mkdir there answers ENOENT, so it climbs to /proc, finds it, and retries forever), and its
 * errno errors (EEXIST, ENOTDIR, EACCES...) would reach the user as stack traces: this module creates
 * folders one level at a time and turns every file-system failure into MOODLENS_ERR_OUTPUT_UNWRITABLE
 * naming the path.
 */
import { constants } from 'node:fs';
import { access, lstat, mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MoodLensError } from '../../core/errors.js';
import { errnoCode, outputError } from './file-errors.js';

/** stat that answers undefined for a path that does not exist (and throws the rest). */
async function statOrUndefined(path: string): Promise<Awaited<ReturnType<typeof stat>> | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    // ENOTDIR: an ancestor is a file; the walk up finds and names it.
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/**
 * Walks up from `path` to the first folder that exists: returns the missing folders, outermost first.
 * Throws MOODLENS_ERR_OUTPUT_UNWRITABLE when the path, or an ancestor, is a file or a broken symbolic link.
 */
async function missingFolders(path: string): Promise<{ missing: string[]; existing: string }> {
  const missing: string[] = [];
  let current = resolve(path);
  for (;;) {
    const info = await statOrUndefined(current);
    if (info !== undefined) {
      if (!info.isDirectory()) {
        const shown = missing.length === 0 ? path : current;
        throw new MoodLensError(
          'MOODLENS_ERR_OUTPUT_UNWRITABLE',
          `Cannot create the folder ${path}: ${shown} is a file, not a folder`,
        );
      }
      return { missing: missing.reverse(), existing: current };
    }
    // stat says ENOENT; lstat tells a dangling symbolic link (which mkdir would trip on) from nothing.
    const link = await lstat(current).catch(() => undefined);
    if (link?.isSymbolicLink() === true) {
      throw new MoodLensError(
        'MOODLENS_ERR_OUTPUT_UNWRITABLE',
        `Cannot create the folder ${path}: ${current} is a symbolic link to nothing`,
      );
    }
    missing.push(current);
    const parent = dirname(current);
    if (parent === current) return { missing: missing.reverse(), existing: current };
    current = parent;
  }
}

/**
 * Checks, without creating anything, that `path` is a folder or can become one: the nearest existing
 * ancestor is a writable folder and nothing on the way is a file. Commands call it before any work, so a
 * bad --out fails at once; writes still report their own failures (a full disk, /proc).
 */
export async function checkOutputDirectory(path: string): Promise<void> {
  try {
    const { existing } = await missingFolders(path);
    await access(existing, constants.W_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof MoodLensError) throw error;
    throw outputError(path, error, 'create the folder');
  }
}

/**
 * Makes `path` an existing folder: nothing to do when it is one; otherwise its missing ancestors and
 * itself are created, one `mkdir` each. Throws MOODLENS_ERR_OUTPUT_UNWRITABLE when the path is a file, a
 * broken symbolic link, below a file, or cannot be created (permissions, read-only, /proc...).
 */
export async function ensureDirectory(path: string): Promise<void> {
  try {
    const { missing } = await missingFolders(path);
    for (const folder of missing) {
      try {
        await mkdir(folder);
      } catch (error) {
        // Another process made it in the meantime: fine if it is a folder.
        if (errnoCode(error) !== 'EEXIST' || !(await stat(folder)).isDirectory()) throw error;
      }
    }
  } catch (error) {
    if (error instanceof MoodLensError) throw error;
    throw outputError(path, error, 'create the folder');
  }
}

/** Writes `data` to `path`, creating its folder; every failure is MOODLENS_ERR_OUTPUT_UNWRITABLE. */
export async function writeOutputFile(path: string, data: string | Uint8Array): Promise<void> {
  await ensureDirectory(dirname(path));
  try {
    await writeFile(path, data);
  } catch (error) {
    throw outputError(path, error);
  }
}
