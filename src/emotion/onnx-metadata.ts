import { MoodLensError } from '../core/errors.js';

/**
 * A minimal reader of ONNX model files (protobuf `ModelProto`) for what ONNX Runtime's JavaScript API
 * does not expose: the model's own `metadata_props` (labels, pixel scaling, input size...), plus the IR
 * and opset versions. Browser-safe (no Node module), allocation-light: the graph, which holds the
 * weights, is skipped by its length, never copied or decoded.
 *
 * The fields read (onnx/onnx.proto): ModelProto 1 `ir_version` (varint), 2 `producer_name`,
 * 3 `producer_version`, 7 `graph` (skipped), 8 `opset_import` (OperatorSetIdProto: 1 `domain`,
 * 2 `version`), 14 `metadata_props` (StringStringEntryProto: 1 `key`, 2 `value`). Any other field is
 * skipped by its wire type.
 */
export interface OnnxModelInfo {
  /** ONNX IR version (ModelProto field 1). */
  readonly irVersion: number;
  /** e.g. `pytorch`. */
  readonly producerName: string;
  readonly producerVersion: string;
  /** Opset of the default (`ai.onnx`) domain, when the model imports it. */
  readonly opsetVersion: number | undefined;
  /** The `metadata_props` entries, key to value (a repeated key keeps its last value). */
  readonly metadata: Readonly<Record<string, string>>;
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const MODEL_IR_VERSION = 1;
const MODEL_PRODUCER_NAME = 2;
const MODEL_PRODUCER_VERSION = 3;
const MODEL_GRAPH = 7;
const MODEL_OPSET_IMPORT = 8;
const MODEL_METADATA_PROPS = 14;

/** A protobuf message that ends early or holds an impossible value. */
class ProtobufError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const utf8 = new TextDecoder('utf-8');

/** Reads protobuf fields of one message, `bytes[start, end)`. */
class FieldReader {
  pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** An unsigned varint up to 2^53 (lengths, versions, tags); larger values are refused. */
  varint(): number {
    const start = this.pos;
    let value = 0;
    let factor = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError('a varint runs past the end', start);
      const byte = this.bytes[this.pos++];
      value += (byte & 0x7f) * factor;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new ProtobufError('a varint is too large', start);
        return value;
      }
      factor *= 128;
    }
    throw new ProtobufError('a varint is longer than 10 bytes', start);
  }

  /** The next field's number and wire type. */
  tag(): { field: number; wire: number } {
    const at = this.pos;
    const tag = this.varint();
    const field = Math.floor(tag / 8);
    if (field === 0) throw new ProtobufError('a field number is 0', at);
    return { field, wire: tag % 8 };
  }

  /** The `[start, end)` range of a length-delimited field's payload; moves past it. */
  lengthDelimited(): { start: number; end: number } {
    const at = this.pos;
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) {
      throw new ProtobufError(
        `a ${length}-byte field runs ${length - (this.end - start)} bytes past the end`,
        at,
      );
    }
    this.pos = start + length;
    return { start, end: this.pos };
  }

  string(): string {
    const { start, end } = this.lengthDelimited();
    return utf8.decode(this.bytes.subarray(start, end));
  }

  /** Skips one field's value by its wire type; `at` is where its tag started (for messages). */
  skip(wire: number, at: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.advance(8, at);
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_I32:
        this.advance(4, at);
        return;
      default:
        // 3 and 4 are proto2 groups, which ONNX never uses; 6 and 7 do not exist.
        throw new ProtobufError(`wire type ${wire} is not used by ONNX`, at);
    }
  }

  private advance(count: number, at: number): void {
    if (count > this.end - this.pos) throw new ProtobufError('a fixed-size field runs past the end', at);
    this.pos += count;
  }
}

function expectWire(actual: number, expected: number, what: string, at: number): void {
  if (actual !== expected) {
    throw new ProtobufError(`${what} has wire type ${actual}, not ${expected}`, at);
  }
}

/**
 * Reads an ONNX model's header fields and `metadata_props` from its bytes.
 *
 * @param source names the model in error messages (a path or URL).
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming `source` and what arrived instead (an HTML page,
 *   a Git LFS pointer, a ZIP or HDF5 file, text...) when the bytes are not an ONNX model, or where a
 *   damaged one breaks.
 */
export function readOnnxMetadata(bytes: Uint8Array, source = 'model'): OnnxModelInfo {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Expected a Uint8Array for the bytes of ${source} but received ${typeof bytes}`);
  }
  const foreign = describeForeignBytes(bytes);
  if (foreign !== undefined) {
    throw new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `Not an ONNX model: ${source} is ${foreign}`);
  }
  try {
    return parseModel(bytes);
  } catch (error) {
    if (!(error instanceof ProtobufError)) throw error;
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `Not an ONNX model: ${source} (${bytes.length} bytes) ${
        looksLikeProtobufModel(bytes) ? 'is truncated or damaged' : `is ${describeUnknown(bytes)}`
      }: ${error.message} at byte ${error.offset}`,
      { cause: error },
    );
  }
}

function parseModel(bytes: Uint8Array): OnnxModelInfo {
  const reader = new FieldReader(bytes, 0, bytes.length);
  let irVersion: number | undefined;
  let producerName = '';
  let producerVersion = '';
  let opsetVersion: number | undefined;
  let hasGraph = false;
  const entries: [string, string][] = [];
  while (!reader.done) {
    const at = reader.pos;
    const { field, wire } = reader.tag();
    switch (field) {
      case MODEL_IR_VERSION:
        expectWire(wire, WIRE_VARINT, 'ir_version', at);
        irVersion = reader.varint();
        break;
      case MODEL_PRODUCER_NAME:
        expectWire(wire, WIRE_LEN, 'producer_name', at);
        producerName = reader.string();
        break;
      case MODEL_PRODUCER_VERSION:
        expectWire(wire, WIRE_LEN, 'producer_version', at);
        producerVersion = reader.string();
        break;
      case MODEL_GRAPH:
        expectWire(wire, WIRE_LEN, 'graph', at);
        reader.lengthDelimited();
        hasGraph = true;
        break;
      case MODEL_OPSET_IMPORT: {
        expectWire(wire, WIRE_LEN, 'opset_import', at);
        const opset = readOpsetImport(bytes, reader.lengthDelimited());
        if (opset.domain === '' || opset.domain === 'ai.onnx') opsetVersion = opset.version;
        break;
      }
      case MODEL_METADATA_PROPS:
        expectWire(wire, WIRE_LEN, 'metadata_props', at);
        entries.push(readStringStringEntry(bytes, reader.lengthDelimited()));
        break;
      default:
        reader.skip(wire, at);
    }
  }
  if (irVersion === undefined) throw new ProtobufError('no ir_version field (ModelProto field 1)', 0);
  if (!hasGraph) throw new ProtobufError('no graph field (ModelProto field 7)', 0);
  return { irVersion, producerName, producerVersion, opsetVersion, metadata: Object.fromEntries(entries) };
}

function readOpsetImport(
  bytes: Uint8Array,
  range: { start: number; end: number },
): {
  domain: string;
  version: number | undefined;
} {
  const reader = new FieldReader(bytes, range.start, range.end);
  let domain = '';
  let version: number | undefined;
  while (!reader.done) {
    const at = reader.pos;
    const { field, wire } = reader.tag();
    if (field === 1) {
      expectWire(wire, WIRE_LEN, 'opset_import.domain', at);
      domain = reader.string();
    } else if (field === 2) {
      expectWire(wire, WIRE_VARINT, 'opset_import.version', at);
      version = reader.varint();
    } else {
      reader.skip(wire, at);
    }
  }
  return { domain, version };
}

function readStringStringEntry(bytes: Uint8Array, range: { start: number; end: number }): [string, string] {
  const reader = new FieldReader(bytes, range.start, range.end);
  let key = '';
  let value = '';
  while (!reader.done) {
    const at = reader.pos;
    const { field, wire } = reader.tag();
    if (field === 1) {
      expectWire(wire, WIRE_LEN, 'metadata_props.key', at);
      key = reader.string();
    } else if (field === 2) {
      expectWire(wire, WIRE_LEN, 'metadata_props.value', at);
      value = reader.string();
    } else {
      reader.skip(wire, at);
    }
  }
  return [key, value];
}

/** ONNX files written by PyTorch, TensorFlow or onnx itself start with `ir_version` (tag 0x08). */
function looksLikeProtobufModel(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x08 && bytes[1] > 0 && bytes[1] < 0x80;
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

/** The first characters of `bytes` as text, when they look like text (for messages). */
function textHead(bytes: Uint8Array, length: number): string {
  return utf8.decode(bytes.subarray(0, Math.min(bytes.length, length)));
}

/**
 * What `bytes` are, when their first bytes show a well-known kind of file that is not an ONNX model:
 * the classic failures of a model download or checkout. `undefined` when they may be ONNX.
 */
export function describeForeignBytes(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return 'empty (0 bytes)';
  const head = textHead(bytes, 512)
    .replace(/^\uFEFF/, '')
    .trimStart();
  const lower = head.toLowerCase();
  const size = `${bytes.length} bytes`;
  if (head.startsWith('version https://git-lfs')) {
    return `a Git LFS pointer (${size}), not the model itself: fetch the file with 'git lfs pull'`;
  }
  if (/^<(!doctype html|html|head|body|!--)/.test(lower)) {
    return `an HTML page (${size}): a web page was saved or served where the model should be`;
  }
  if (lower.startsWith('<?xml') || lower.startsWith('<')) return `an XML or HTML document (${size})`;
  if (head.startsWith('{') || head.startsWith('[')) return `JSON text (${size})`;
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) {
    return `a ZIP archive (${size}); a PyTorch .pt checkpoint is one: export it to ONNX first`;
  }
  if (startsWith(bytes, [0x89, 0x48, 0x44, 0x46])) {
    return `an HDF5 file (${size}), such as a Keras .h5 model: convert it to ONNX first`;
  }
  if (startsWith(bytes, [0x1f, 0x8b])) return `gzip-compressed data (${size}): decompress it first`;
  if (startsWith(bytes, [0x00, 0x61, 0x73, 0x6d])) return `a WebAssembly module (${size})`;
  return undefined;
}

/** A short description of bytes that are neither ONNX nor a known kind of file. */
function describeUnknown(bytes: Uint8Array): string {
  const sample = bytes.subarray(0, Math.min(bytes.length, 64));
  let printable = 0;
  for (const b of sample) if ((b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d) printable++;
  if (printable === sample.length) {
    const text = textHead(bytes, 40).replace(/\s+/g, ' ');
    return `text starting ${JSON.stringify(text)}`;
  }
  const hex = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `binary data starting with bytes ${hex}`;
}
