/**
 * Opening the camera, with every way it can fail turned into one of a few states the page explains.
 */

/** Why the camera could not be opened. */
export type CameraProblem =
  'camera-denied' | 'no-camera' | 'camera-busy' | 'camera-unsupported' | 'camera-error';

export class CameraError extends Error {
  override readonly name = 'CameraError';
  constructor(
    readonly problem: CameraProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What is asked of the camera: the analysis works at 640x480, so more would only cost time. */
export const CAMERA_CONSTRAINTS: MediaStreamConstraints = {
  audio: false,
  video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: 'user' },
};

/**
 * Asks for the camera. Resolves to its stream, or rejects with a CameraError whose `problem` says what
 * the person can do about it.
 */
export async function openCamera(
  constraints: MediaStreamConstraints = CAMERA_CONSTRAINTS,
): Promise<MediaStream> {
  // navigator.mediaDevices exists only in secure contexts (https, or http://localhost / 127.0.0.1).
  const devices = navigator.mediaDevices as MediaDevices | undefined;
  if (devices === undefined || typeof devices.getUserMedia !== 'function') {
    throw new CameraError(
      'camera-unsupported',
      window.isSecureContext
        ? 'This browser cannot give web pages a camera.'
        : `The camera is only available to secure pages: open this page through https:// or http://localhost ` +
            `(it was opened as ${location.origin}).`,
    );
  }
  try {
    return await devices.getUserMedia(constraints);
  } catch (cause) {
    throw classifyCameraError(cause);
  }
}

/** Turns a getUserMedia rejection into a CameraError (by the DOMException names of the spec). */
export function classifyCameraError(cause: unknown): CameraError {
  const name = cause instanceof DOMException || cause instanceof Error ? cause.name : '';
  const detail = cause instanceof Error && cause.message ? ` (${cause.name}: ${cause.message})` : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return new CameraError(
        'camera-denied',
        'Camera access was denied. Allow the camera for this page in the browser (the camera icon in the ' +
          'address bar, or the site settings), then press Start again.',
        { cause },
      );
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return new CameraError(
        'no-camera',
        `No camera was found. Connect a camera (or enable it in the system settings), then press Start again.${detail}`,
        { cause },
      );
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return new CameraError(
        'camera-busy',
        `The camera could not be started: another application may be using it. Close it, then press Start again.${detail}`,
        { cause },
      );
    default:
      return new CameraError(
        'camera-error',
        `The camera could not be opened${detail || `: ${String(cause)}`}.`,
        {
          cause,
        },
      );
  }
}

/** Stops every track of the stream (the camera light goes off). */
export function closeCamera(stream: MediaStream | undefined): void {
  for (const track of stream?.getTracks() ?? []) track.stop();
}
