/**
 * Node's file-system errors (errno codes) as MoodLens errors naming the path, for inputs and outputs
 * alike, so no EACCES or ELOOP reaches a user as a stack trace.
 */
import { MoodLensError } from '../../core/errors.js';

/** Node's errno code of a file-system error, if it has one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** Why a path cannot be written, in words, for an errno code. */
export function explainErrno(code: string | undefined): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'no space left on the device';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder';
    case 'EEXIST':
      return 'a file of that name is in the way';
    case 'EISDIR':
      return 'it is a folder';
    case 'ELOOP':
      return 'too many symbolic links (a loop?)';
    case 'ENAMETOOLONG':
      return 'the name is too long';
    case 'ENOENT':
      return 'a folder on the path does not exist and cannot be created there';
    default:
      return code === undefined ? 'unknown failure' : code;
  }
}

/** The coded error for a failed write or mkdir of `path`. */
export function outputError(path: string, cause: unknown, what = 'write'): MoodLensError {
  return new MoodLensError(
    'MOODLENS_ERR_OUTPUT_UNWRITABLE',
    `Cannot ${what} ${path}: ${explainErrno(errnoCode(cause))}`,
    {
      cause,
    },
  );
}

/**
 * The coded error for an input path that cannot be read: NOT_A_FILE for a folder, FILE_NOT_FOUND for
 * the rest (missing, ENOTDIR, a symbolic-link loop, a name too long, no permission), with the reason.
 */
export function inputFileError(path: string, cause: unknown): MoodLensError {
  const code = errnoCode(cause);
  if (code === 'EISDIR') {
    return new MoodLensError('MOODLENS_ERR_NOT_A_FILE', `Not a file: ${path} is a directory`, { cause });
  }
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new MoodLensError('MOODLENS_ERR_FILE_NOT_FOUND', `File not found: ${path}`, { cause });
  }
  // The catalogue has no closer code than "check the path".
  const reason =
    code === undefined ? (cause instanceof Error ? cause.message : String(cause)) : explainErrno(code);
  return new MoodLensError('MOODLENS_ERR_FILE_NOT_FOUND', `Cannot read file: ${path} (${reason})`, { cause });
}
