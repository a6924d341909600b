import { iouCorners, type DetectionCandidate } from './decode.js';

/**
 * Faces found on an image's mirror image, mapped back onto the image (`width` pixels wide): x becomes
 * width - x, and the keypoints' left and right swap places so they stay in `CNN_DETECTOR_KEYPOINTS` order
 * (the eye on the image's left first). As training's metrics.mirror_detections.
 */
export function unmirrorCandidates(
  candidates: readonly DetectionCandidate[],
  width: number,
): DetectionCandidate[] {
  return candidates.map(({ corners, score, keypoints }) => {
    const flipped = keypoints.map(([x, y]) => [width - x, y] as const);
    return {
      corners: { x1: width - corners.x2, y1: corners.y1, x2: width - corners.x1, y2: corners.y2 },
      score,
      keypoints: [flipped[1], flipped[0], flipped[2], flipped[4], flipped[3]],
    };
  });
}

/**
 * Two views' faces (each after NMS, highest score first, on the same image) as one list, as training's
 * metrics.fuse_views: each face of `a`, in score order, pairs with the unpaired face of `b` it overlaps most
 * (IoU at least `iou`; ties: the first); a pair becomes the mean of the two boxes, keypoints and scores, and
 * a face without a partner keeps its box and half its score (the other view counted as 0). The unpaired
 * faces of `b` follow in their order. No NMS: the caller runs it.
 */
export function fuseViews(
  a: readonly DetectionCandidate[],
  b: readonly DetectionCandidate[],
  iou: number,
): DetectionCandidate[] {
  const order = a.map((_, i) => i).sort((i, j) => a[j].score - a[i].score || i - j);
  const paired = new Uint8Array(b.length);
  const fused: DetectionCandidate[] = [];
  for (const i of order) {
    const face = a[i];
    let best = -1;
    let bestIou = -1;
    for (let j = 0; j < b.length; j++) {
      if (paired[j] === 1) continue;
      const overlap = iouCorners(face.corners, b[j].corners);
      if (overlap >= iou && overlap > bestIou) {
        best = j;
        bestIou = overlap;
      }
    }
    if (best < 0) {
      fused.push({ ...face, score: face.score / 2 });
      continue;
    }
    paired[best] = 1;
    const other = b[best];
    fused.push({
      corners: {
        x1: (face.corners.x1 + other.corners.x1) / 2,
        y1: (face.corners.y1 + other.corners.y1) / 2,
        x2: (face.corners.x2 + other.corners.x2) / 2,
        y2: (face.corners.y2 + other.corners.y2) / 2,
      },
      score: (face.score + other.score) / 2,
      keypoints: face.keypoints.map(
        ([x, y], p) => [(x + other.keypoints[p][0]) / 2, (y + other.keypoints[p][1]) / 2] as const,
      ),
    });
  }
  b.forEach((face, j) => {
    if (paired[j] === 0) fused.push({ ...face, score: face.score / 2 });
  });
  return fused;
}
