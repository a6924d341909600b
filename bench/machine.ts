/** The machine a benchmark or study ran on, printed with its figures. */
import { cpus, platform, release, totalmem } from 'node:os';
import { openCvAvailability } from '../test/support/opencv.js';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly opencv: string | null;
}

export async function describeMachine(): Promise<Machine> {
  const cores = cpus();
  const opencv = await openCvAvailability();
  return {
    cpu: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    opencv: opencv.available ? opencv.version : null,
  };
}
