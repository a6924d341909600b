import type { GrayImage } from '../core/image.js';
import { cropFace } from '../emotion/preprocess.js';
import { bicubicResizeGray } from './bicubic.js';
import type { FaceEnhancer } from './face-enhancer.js';

/**
 * The ways a low-resolution face is brought back to the classifier's input size, as `moodlens evaluate
 * --enhance` and the size study compare them. Pure and browser-safe (the network runs through the
 * enhancer's backend).
 *
 * - `none`: what the classifier does with any crop: `cropFace`'s resize (bilinear when enlarging).
 * - `bicubic`: PyTorch's bicubic, rounded (the super-resolution model's own input, before equalization).
 * - `fsrnet`: the super-resolution network.
 */
export type RestoreMethod = 'none' | 'bicubic' | 'fsrnet';

export const RESTORE_METHODS: readonly RestoreMethod[] = ['none', 'bicubic', 'fsrnet'];

/**
 * Each face restored to `size` x `size`, not equalized (the classifier equalizes its input afterwards).
 * @param enhancer required for `fsrnet`; its size must be `size`.
 */
export async function restoreFaces(
  faces: readonly GrayImage[],
  method: RestoreMethod,
  size: number,
  enhancer?: FaceEnhancer,
): Promise<GrayImage[]> {
  switch (method) {
    case 'none':
      return faces.map((face) =>
        cropFace(face, { x: 0, y: 0, width: face.width, height: face.height }, { size, equalize: false }),
      );
    case 'bicubic':
      return faces.map((face) => bicubicResizeGray(face, size, size));
    case 'fsrnet':
      if (enhancer === undefined) throw new RangeError("Expected a FaceEnhancer for method 'fsrnet'");
      if (enhancer.size !== size) {
        throw new RangeError(
          `The enhancer restores ${enhancer.size}x${enhancer.size} faces, not ${size}x${size}`,
        );
      }
      return enhancer.enhance(faces);
    default:
      throw new RangeError(
        `Expected ${RESTORE_METHODS.join(', ')} for method but received ${String(method)}`,
      );
  }
}
