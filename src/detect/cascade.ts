import { MoodLensError } from '../core/errors.js';
import { child, parseXml, type XmlElement, XmlSyntaxError } from './xml.js';

/**
 * A boosted cascade as OpenCV's `CascadeClassifierImpl::Data` holds it, read from the current
 * `opencv_storage` XML format. Numbers are kept exactly as OpenCV keeps them: thresholds, leaf values and
 * rectangle weights are float32 values (stored here in float64 arrays, which hold them exactly).
 */
export interface HaarFeature {
  /** Up to three weighted rectangles: x, y, width, height, weight. Unused ones have weight 0. */
  readonly rects: ReadonlyArray<readonly [number, number, number, number, number]>;
  readonly tilted: boolean;
}

export interface LbpFeature {
  readonly rect: readonly [number, number, number, number];
}

interface CascadeCommon {
  readonly windowWidth: number;
  readonly windowHeight: number;
  /** Per stage: index of its first weak classifier, their count, and the threshold (minus OpenCV's 1e-5). */
  readonly stageFirst: Int32Array;
  readonly stageCount: Int32Array;
  readonly stageThreshold: Float64Array;
  /** Per weak tree: number of internal nodes. */
  readonly treeNodeCount: Int32Array;
  /** Per internal node, in file order: left, right, feature index, threshold (0 for categorical). */
  readonly nodeLeft: Int32Array;
  readonly nodeRight: Int32Array;
  readonly nodeFeature: Int32Array;
  readonly nodeThreshold: Float64Array;
  readonly leaves: Float64Array;
  readonly maxNodesPerTree: number;
}

export interface HaarCascade extends CascadeCommon {
  readonly featureType: 'HAAR';
  readonly features: readonly HaarFeature[];
  readonly hasTiltedFeatures: boolean;
}

export interface LbpCascade extends CascadeCommon {
  readonly featureType: 'LBP';
  readonly features: readonly LbpFeature[];
  /** Category bit sets, `subsetSize` int32 words per node. */
  readonly subsets: Int32Array;
  readonly subsetSize: number;
}

export type Cascade = HaarCascade | LbpCascade;

// OpenCV subtracts this from every stage threshold when it loads a cascade.
const THRESHOLD_EPS = Math.fround(1e-5);

function invalid(source: string, why: string, cause?: unknown): MoodLensError {
  return new MoodLensError('MOODLENS_ERR_INVALID_CASCADE', `Invalid cascade ${source}: ${why}`, { cause });
}

function numbers(element: XmlElement | undefined): number[] {
  if (!element) return [];
  const text = element.text.trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
}

function requireChild(element: XmlElement, name: string, source: string): XmlElement {
  const found = child(element, name);
  if (!found) throw invalid(source, `missing <${name}> in <${element.name}>`);
  return found;
}

function requireInt(element: XmlElement, name: string, source: string): number {
  const value = Number(requireChild(element, name, source).text.trim());
  if (!Number.isInteger(value)) throw invalid(source, `<${name}> is not an integer`);
  return value;
}

/** Parses an OpenCV cascade XML document (Haar or LBP features, stumps or trees). */
export function parseCascadeXml(xml: string, source = 'cascade XML'): Cascade {
  let document: XmlElement;
  try {
    document = parseXml(xml);
  } catch (error) {
    if (error instanceof XmlSyntaxError)
      throw invalid(source, `not well-formed XML (${error.message})`, error);
    throw error;
  }
  const storage = child(document, 'opencv_storage');
  if (!storage || storage.children.length === 0) throw invalid(source, 'no <opencv_storage> root element');
  const root = storage.children[0];
  if (root.attributes.type_id === 'opencv-haar-classifier') {
    throw invalid(
      source,
      'this is the pre-2.0 "opencv-haar-classifier" format; convert it with OpenCV first',
    );
  }
  if (requireChild(root, 'stageType', source).text.trim() !== 'BOOST') {
    throw invalid(source, 'only BOOST stage types are supported');
  }
  const featureType = requireChild(root, 'featureType', source).text.trim();
  if (featureType !== 'HAAR' && featureType !== 'LBP') {
    throw invalid(source, `feature type ${featureType} is not supported (HAAR and LBP are)`);
  }
  const windowWidth = requireInt(root, 'width', source);
  const windowHeight = requireInt(root, 'height', source);
  if (windowWidth <= 2 || windowHeight <= 2) throw invalid(source, 'window size is too small');

  const featureParams = requireChild(root, 'featureParams', source);
  const categories = Number(child(featureParams, 'maxCatCount')?.text.trim() ?? '0');
  const subsetSize = categories > 0 ? (categories + 31) >> 5 : 0;
  const nodeStep = 3 + (categories > 0 ? subsetSize : 1);

  const stageElements = requireChild(root, 'stages', source).children;
  if (stageElements.length === 0) throw invalid(source, 'no stages');
  const stageFirst: number[] = [];
  const stageCount: number[] = [];
  const stageThreshold: number[] = [];
  const treeNodeCount: number[] = [];
  const nodeLeft: number[] = [];
  const nodeRight: number[] = [];
  const nodeFeature: number[] = [];
  const nodeThreshold: number[] = [];
  const leaves: number[] = [];
  const subsets: number[] = [];
  let maxNodesPerTree = 0;

  for (const stage of stageElements) {
    const threshold = Number(requireChild(stage, 'stageThreshold', source).text.trim());
    const weak = requireChild(stage, 'weakClassifiers', source).children;
    if (weak.length === 0 || !Number.isFinite(threshold)) throw invalid(source, 'a stage is empty or broken');
    stageFirst.push(treeNodeCount.length);
    stageCount.push(weak.length);
    stageThreshold.push(Math.fround(Math.fround(threshold) - THRESHOLD_EPS));
    for (const tree of weak) {
      const internal = numbers(child(tree, 'internalNodes'));
      const leafValues = numbers(child(tree, 'leafValues'));
      if (internal.length === 0 || leafValues.length === 0 || internal.length % nodeStep !== 0) {
        throw invalid(source, 'a weak classifier has malformed internalNodes or leafValues');
      }
      const count = internal.length / nodeStep;
      if (leafValues.length !== count + 1) throw invalid(source, 'leafValues do not match internalNodes');
      maxNodesPerTree = Math.max(maxNodesPerTree, count);
      treeNodeCount.push(count);
      for (let k = 0; k < internal.length; k += nodeStep) {
        nodeLeft.push(internal[k]);
        nodeRight.push(internal[k + 1]);
        nodeFeature.push(internal[k + 2]);
        if (subsetSize > 0) {
          for (let j = 0; j < subsetSize; j++) subsets.push(internal[k + 3 + j] | 0);
          nodeThreshold.push(0);
        } else {
          nodeThreshold.push(Math.fround(internal[k + 3]));
        }
      }
      for (const value of leafValues) leaves.push(Math.fround(value));
    }
  }
  if (
    [...nodeLeft, ...nodeRight, ...nodeFeature, ...nodeThreshold, ...leaves].some((v) => !Number.isFinite(v))
  ) {
    throw invalid(source, 'non-numeric values in a weak classifier');
  }

  const featureElements = requireChild(root, 'features', source).children;
  if (nodeFeature.some((f) => !Number.isInteger(f) || f < 0 || f >= featureElements.length)) {
    throw invalid(source, 'a node refers to a feature that does not exist');
  }
  const common: CascadeCommon = {
    windowWidth,
    windowHeight,
    stageFirst: Int32Array.from(stageFirst),
    stageCount: Int32Array.from(stageCount),
    stageThreshold: Float64Array.from(stageThreshold),
    treeNodeCount: Int32Array.from(treeNodeCount),
    nodeLeft: Int32Array.from(nodeLeft),
    nodeRight: Int32Array.from(nodeRight),
    nodeFeature: Int32Array.from(nodeFeature),
    nodeThreshold: Float64Array.from(nodeThreshold),
    leaves: Float64Array.from(leaves),
    maxNodesPerTree,
  };

  if (featureType === 'LBP') {
    if (subsetSize === 0) throw invalid(source, 'LBP cascades need maxCatCount > 0');
    const features = featureElements.map((f): LbpFeature => {
      const r = numbers(child(f, 'rect'));
      if (r.length !== 4 || r.some((v) => !Number.isInteger(v)))
        throw invalid(source, 'an LBP rect is malformed');
      const [x, y, w, h] = r;
      if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + 3 * w > windowWidth || y + 3 * h > windowHeight) {
        throw invalid(source, 'an LBP feature lies outside the window');
      }
      return { rect: [x, y, w, h] };
    });
    return { ...common, featureType: 'LBP', features, subsets: Int32Array.from(subsets), subsetSize };
  }

  let hasTiltedFeatures = false;
  const features = featureElements.map((f): HaarFeature => {
    const rectElements = child(f, 'rects')?.children ?? [];
    if (rectElements.length === 0 || rectElements.length > 3)
      throw invalid(source, 'a feature needs 1-3 rects');
    const rects = rectElements.map((r) => {
      const v = numbers(r);
      if (v.length !== 5 || v.slice(0, 4).some((c) => !Number.isInteger(c)) || !Number.isFinite(v[4])) {
        throw invalid(source, 'a feature rect is malformed');
      }
      return [v[0], v[1], v[2], v[3], Math.fround(v[4])] as const;
    });
    const tilted = Number(child(f, 'tilted')?.text.trim() ?? '0') !== 0;
    hasTiltedFeatures ||= tilted;
    for (const [x, y, w, h] of rects) {
      const fits = tilted
        ? x - h >= 0 && x + w <= windowWidth && y >= 0 && y + w + h <= windowHeight
        : x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= windowWidth && y + h <= windowHeight;
      if (!fits) throw invalid(source, 'a Haar feature rect lies outside the window');
    }
    return { rects, tilted };
  });
  return { ...common, featureType: 'HAAR', features, hasTiltedFeatures };
}
