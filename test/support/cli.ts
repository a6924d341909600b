import { runCli, type CliIo } from '../../src/cli/main.js';

/** What a CLI run printed and returned. */
export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `moodlens <argv>` in-process with captured stdout/stderr. */
export async function runCaptured(argv: string[], isTTY = false): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), isTTY };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}
