/** Worker-thread side of `ParallelFaceDetector`: holds one parsed cascade and scans pyramid levels on request. */
import { parentPort, workerData } from 'node:worker_threads';
import { createImage } from '../../core/image.js';
import { parseCascadeXml } from '../../detect/cascade.js';
import { scanLevels } from '../../detect/scan.js';
import { WasmStumpKernel } from '../../detect/wasm-kernel.js';
import type { ScanRequest, ScanResponse, WorkerInit } from './parallel-detector.js';

const init = workerData as WorkerInit;
const cascade = parseCascadeXml(init.xml, init.source);
const kernel = cascade.featureType === 'HAAR' ? WasmStumpKernel.tryCreate(cascade) : undefined;

parentPort?.on('message', (request: ScanRequest) => {
  let response: ScanResponse;
  try {
    const gray = createImage(request.width, request.height, 1, new Uint8Array(request.pixels));
    response = { id: request.id, boxes: scanLevels(cascade, gray, request.levels, kernel) };
  } catch (error) {
    response = { id: request.id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(response);
});
