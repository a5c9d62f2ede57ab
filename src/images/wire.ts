/**
 * The protobuf (proto2) wire format, driven by our generated schema table.
 *
 * Why not protobufjs's own codec: images need exact 64-bit values (`bigint`), must refuse
 * fields our schema does not know (an image we would read back differently from what was
 * meant), and must re-encode byte for byte as CRIU wrote them. protobufjs is used at build time
 * to parse our .proto files into the table this module reads.
 *
 * A decoded message is a plain object: a field is present exactly when its key is set (proto2
 * presence); repeated fields are arrays and are absent when empty.
 */
import type { FieldSpec, ImageSchema, MessageSpec } from './schema_types.js';

export type PbScalar = number | bigint | boolean | string | Uint8Array;
export type PbValue = PbScalar | PbMessage | PbValue[];
export interface PbMessage {
  [field: string]: PbValue | undefined;
}

export type WireErrorKind = 'truncated' | 'bad-payload' | 'unknown-field';

/** A wire-level problem at `offset` (relative to the start of the buffer being decoded). */
export class WireError extends Error {
  readonly kind: WireErrorKind;
  readonly offset: number;

  constructor(kind: WireErrorKind, offset: number, message: string) {
    super(message);
    this.kind = kind;
    this.offset = offset;
  }
}

const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Len = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

const SCALAR_WIRE: Record<string, WireType> = {
  int32: WireType.Varint, int64: WireType.Varint, uint32: WireType.Varint, uint64: WireType.Varint,
  sint32: WireType.Varint, sint64: WireType.Varint, bool: WireType.Varint, enum: WireType.Varint,
  fixed64: WireType.Fixed64, sfixed64: WireType.Fixed64, double: WireType.Fixed64,
  fixed32: WireType.Fixed32, sfixed32: WireType.Fixed32, float: WireType.Fixed32,
  string: WireType.Len, bytes: WireType.Len, message: WireType.Len,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Looks up a message type; throws if the schema has no such type (a bug, not bad input). */
export function messageSpec(schema: ImageSchema, typeName: string): MessageSpec {
  const spec = schema.messages[typeName];
  if (!spec) throw new Error(`no message type '${typeName}' in the image schema`);
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Reader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos: number;
  readonly end: number;
  /** Step over fields the schema does not know instead of refusing them (see DecodeOptions). */
  skipUnknown = false;

  constructor(buf: Uint8Array, start: number, end: number) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = end;
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new WireError('truncated', this.pos, `${what} runs past the end of the payload`);
  }

  /** A varint as its low and high 32-bit halves (both unsigned), without bigint arithmetic. */
  varintHalves(): [number, number] {
    const start = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated', start, 'varint runs past the end of the payload');
      const byte = this.buf[this.pos++]!;
      const bits = byte & 0x7f;
      const shift = i * 7;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if ((byte & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    throw new WireError('bad-payload', start, 'varint longer than 10 bytes');
  }

  /** A varint whose value must fit 32 bits unsigned (tags, lengths). */
  varint32(what: string): number {
    const start = this.pos;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) throw new WireError('truncated', start, `${what} runs past the end of the payload`);
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (result > 0xffffffff) break;
        return result;
      }
    }
    throw new WireError('bad-payload', start, `${what} is not a valid 32-bit varint`);
  }
}

/**
 * What to do with a field number the schema does not have: images refuse it (`refuse`, the
 * default: nothing may be read back differently from what was meant); RPC messages skip it
 * (`skip`), as protobuf does, so that a client newer than our rpc.proto is still understood.
 */
export interface DecodeOptions {
  unknownFields?: 'refuse' | 'skip';
}

/** Decodes one message of type `typeName` from `buf[start, end)`. */
export function decodeMessage(schema: ImageSchema, typeName: string, buf: Uint8Array, start = 0, end = buf.length, opts: DecodeOptions = {}): PbMessage {
  const reader = new Reader(buf, start, end);
  reader.skipUnknown = opts.unknownFields === 'skip';
  return readMessage(schema, messageSpec(schema, typeName), reader, end);
}

/** Steps over the value of a field this schema does not know. */
function skipValue(r: Reader, wireType: number, at: number, name: string): void {
  if (wireType === WireType.Varint) r.varintHalves();
  else if (wireType === WireType.Fixed64) r.need(8, `unknown field of ${name}`), (r.pos += 8);
  else if (wireType === WireType.Fixed32) r.need(4, `unknown field of ${name}`), (r.pos += 4);
  else if (wireType === WireType.Len) {
    const len = r.varint32('length of an unknown field');
    r.need(len, `unknown field of ${name}`);
    r.pos += len;
  } else throw new WireError('bad-payload', at, `${name} has an unknown field of wire type ${wireType}, which cannot be skipped`);
}

function readMessage(schema: ImageSchema, spec: MessageSpec, r: Reader, end: number): PbMessage {
  const msg: PbMessage = {};
  while (r.pos < end) {
    const tagOffset = r.pos;
    const tag = r.varint32('field tag');
    const id = tag >>> 3;
    const wireType = tag & 7;
    const field = fieldById(spec, id);
    if (!field) {
      if (r.skipUnknown) {
        skipValue(r, wireType, tagOffset, spec.name);
        continue;
      }
      throw new WireError('unknown-field', tagOffset, `${spec.name} has no field number ${id} (wire type ${wireType})`);
    }
    readField(schema, spec, field, wireType, r, msg, tagOffset);
  }
  for (const field of spec.fields) {
    if (field.rule === 'required' && msg[field.name] === undefined) {
      throw new WireError('bad-payload', end, `${spec.name} lacks its required field '${field.name}'`);
    }
  }
  return msg;
}

const fieldIndex = new WeakMap<MessageSpec, Map<number, FieldSpec>>();

function fieldById(spec: MessageSpec, id: number): FieldSpec | undefined {
  let index = fieldIndex.get(spec);
  if (!index) {
    index = new Map(spec.fields.map((f) => [f.id, f]));
    fieldIndex.set(spec, index);
  }
  return index.get(id);
}

function readField(
  schema: ImageSchema, spec: MessageSpec, field: FieldSpec, wireType: number, r: Reader, msg: PbMessage, at: number,
): void {
  const expected = SCALAR_WIRE[field.type]!;
  if (field.rule === 'repeated') {
    const list = (msg[field.name] as PbValue[] | undefined) ?? [];
    if (wireType === WireType.Len && expected !== WireType.Len) {
      // A packed run of scalars (accepted whether or not the schema says packed).
      const len = r.varint32('packed length');
      r.need(len, `packed field '${field.name}'`);
      const stop = r.pos + len;
      while (r.pos < stop) list.push(readScalar(schema, spec, field, expected, r, at));
      if (r.pos !== stop) throw new WireError('bad-payload', at, `packed field '${field.name}' overruns its length`);
    } else {
      list.push(readValue(schema, spec, field, wireType, expected, r, at));
    }
    msg[field.name] = list;
    return;
  }
  msg[field.name] = readValue(schema, spec, field, wireType, expected, r, at);
}

function readValue(
  schema: ImageSchema, spec: MessageSpec, field: FieldSpec, wireType: number, expected: WireType, r: Reader, at: number,
): PbValue {
  if (wireType !== expected) {
    throw new WireError('bad-payload', at, `${spec.name}.${field.name} has wire type ${wireType}, expected ${expected}`);
  }
  if (field.type === 'message') {
    const len = r.varint32('message length');
    r.need(len, `message field '${field.name}'`);
    const stop = r.pos + len;
    const value = readMessage(schema, messageSpec(schema, field.typeName!), r, stop);
    r.pos = stop;
    return value;
  }
  if (field.type === 'string' || field.type === 'bytes') {
    const len = r.varint32('length');
    r.need(len, `field '${field.name}'`);
    const bytes = r.buf.subarray(r.pos, r.pos + len);
    r.pos += len;
    if (field.type === 'bytes') return Uint8Array.from(bytes);
    try {
      return utf8.decode(bytes);
    } catch {
      throw new WireError('bad-payload', at, `${spec.name}.${field.name} is not valid UTF-8`);
    }
  }
  return readScalar(schema, spec, field, expected, r, at);
}

function readScalar(
  schema: ImageSchema, spec: MessageSpec, field: FieldSpec, wireType: WireType, r: Reader, at: number,
): PbScalar {
  switch (wireType) {
    case WireType.Varint: {
      const [lo, hi] = r.varintHalves();
      return varintValue(schema, spec, field, lo, hi, at);
    }
    case WireType.Fixed64: {
      r.need(8, `field '${field.name}'`);
      const pos = r.pos;
      r.pos += 8;
      if (field.type === 'double') return r.view.getFloat64(pos, true);
      return field.type === 'sfixed64' ? r.view.getBigInt64(pos, true) : r.view.getBigUint64(pos, true);
    }
    case WireType.Fixed32: {
      r.need(4, `field '${field.name}'`);
      const pos = r.pos;
      r.pos += 4;
      if (field.type === 'float') return r.view.getFloat32(pos, true);
      return field.type === 'sfixed32' ? r.view.getInt32(pos, true) : r.view.getUint32(pos, true);
    }
    default:
      throw new WireError('bad-payload', at, `${spec.name}.${field.name}: unexpected wire type ${wireType}`);
  }
}

const u64 = (lo: number, hi: number): bigint => (hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo));

function varintValue(schema: ImageSchema, spec: MessageSpec, field: FieldSpec, lo: number, hi: number, at: number): PbScalar {
  switch (field.type) {
    case 'uint64':
      return u64(lo, hi);
    case 'int64':
      return BigInt.asIntN(64, u64(lo, hi));
    case 'sint64': {
      const raw = u64(lo, hi);
      return (raw >> 1n) ^ -(raw & 1n);
    }
    case 'uint32':
      return lo;
    case 'int32':
      return lo | 0;
    case 'sint32':
      return (lo >>> 1) ^ -(lo & 1);
    case 'bool':
      return lo !== 0 || hi !== 0;
    case 'enum': {
      const value = lo | 0;
      const en = schema.enums[field.typeName!];
      if (!en || !Object.values(en.values).includes(value)) {
        throw new WireError('bad-payload', at, `${spec.name}.${field.name}: ${value} is not a value of enum ${field.typeName}`);
      }
      return value;
    }
    default:
      throw new WireError('bad-payload', at, `${spec.name}.${field.name}: a varint where a ${field.type} belongs`);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
  #chunks: Uint8Array[] = [];
  #buf = new Uint8Array(64);
  #pos = 0;

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    this.#chunks.push(this.#buf.subarray(0, this.#pos));
    this.#buf = new Uint8Array(Math.max(1024, n * 2));
    this.#pos = 0;
  }

  byte(b: number): void {
    this.#room(1);
    this.#buf[this.#pos++] = b;
  }

  varint(value: number | bigint): void {
    if (typeof value === 'bigint' && value >= 0n && value <= 0xffffffffn) value = Number(value);
    if (typeof value === 'number' && value >= 0 && value <= 0xffffffff) {
      let v = value;
      this.#room(5);
      while (v > 0x7f) {
        this.#buf[this.#pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.#buf[this.#pos++] = v;
      return;
    }
    let v = BigInt.asUintN(64, BigInt(value));
    this.#room(10);
    while (v > 0x7fn) {
      this.#buf[this.#pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buf[this.#pos++] = Number(v);
  }

  bytes(data: Uint8Array): void {
    this.#room(data.length);
    this.#buf.set(data, this.#pos);
    this.#pos += data.length;
  }

  fixed(size: 4 | 8, set: (view: DataView) => void): void {
    this.#room(size);
    set(new DataView(this.#buf.buffer, this.#buf.byteOffset + this.#pos, size));
    this.#pos += size;
  }

  finish(): Uint8Array {
    const chunks = [...this.#chunks, this.#buf.subarray(0, this.#pos)];
    if (chunks.length === 1) return chunks[0]!.slice();
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** A message that cannot be encoded (a missing required field, a value of the wrong type). */
export class EncodeError extends Error {}

/** Encodes `msg` as a message of type `typeName`, fields in field-number order. */
export function encodeMessage(schema: ImageSchema, typeName: string, msg: PbMessage): Uint8Array {
  const w = new Writer();
  writeMessage(schema, messageSpec(schema, typeName), msg, w);
  return w.finish();
}

const fieldNames = new WeakMap<MessageSpec, Set<string>>();

function writeMessage(schema: ImageSchema, spec: MessageSpec, msg: PbMessage, w: Writer): void {
  let names = fieldNames.get(spec);
  if (!names) {
    names = new Set(spec.fields.map((f) => f.name));
    fieldNames.set(spec, names);
  }
  for (const key in msg) {
    if (!names.has(key) && msg[key] !== undefined) throw new EncodeError(`${spec.name} has no field '${key}'`);
  }
  for (const field of spec.fields) {
    const value = msg[field.name];
    if (value === undefined) {
      if (field.rule === 'required') throw new EncodeError(`${spec.name} lacks its required field '${field.name}'`);
      continue;
    }
    const wireType = SCALAR_WIRE[field.type]!;
    if (field.rule === 'repeated') {
      if (!Array.isArray(value)) throw new EncodeError(`${spec.name}.${field.name} must be a list`);
      if (value.length === 0) continue;
      if (field.packed) {
        const inner = new Writer();
        for (const item of value) writeScalar(schema, spec, field, item as PbScalar, inner);
        const body = inner.finish();
        w.varint((field.id << 3) | WireType.Len);
        w.varint(body.length);
        w.bytes(body);
      } else {
        for (const item of value) writeField(schema, spec, field, wireType, item, w);
      }
    } else {
      writeField(schema, spec, field, wireType, value, w);
    }
  }
}

function writeField(schema: ImageSchema, spec: MessageSpec, field: FieldSpec, wireType: WireType, value: PbValue, w: Writer): void {
  w.varint((field.id << 3) | wireType);
  if (field.type === 'message') {
    if (typeof value !== 'object' || value instanceof Uint8Array || Array.isArray(value)) {
      throw new EncodeError(`${spec.name}.${field.name} must be a message`);
    }
    const inner = new Writer();
    writeMessage(schema, messageSpec(schema, field.typeName!), value as PbMessage, inner);
    const body = inner.finish();
    w.varint(body.length);
    w.bytes(body);
    return;
  }
  if (field.type === 'string' || field.type === 'bytes') {
    let data: Uint8Array;
    if (field.type === 'string') {
      if (typeof value !== 'string') throw new EncodeError(`${spec.name}.${field.name} must be a string`);
      data = utf8Encoder.encode(value);
    } else {
      if (!(value instanceof Uint8Array)) throw new EncodeError(`${spec.name}.${field.name} must be bytes`);
      data = value;
    }
    w.varint(data.length);
    w.bytes(data);
    return;
  }
  writeScalar(schema, spec, field, value as PbScalar, w);
}

function integer(spec: MessageSpec, field: FieldSpec, value: PbScalar): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  throw new EncodeError(`${spec.name}.${field.name} must be an integer, not ${String(value)}`);
}

function writeScalar(schema: ImageSchema, spec: MessageSpec, field: FieldSpec, value: PbScalar, w: Writer): void {
  switch (field.type) {
    case 'bool':
      if (typeof value !== 'boolean') throw new EncodeError(`${spec.name}.${field.name} must be a boolean`);
      w.varint(value ? 1 : 0);
      return;
    case 'enum': {
      const n = Number(integer(spec, field, value));
      const en = schema.enums[field.typeName!];
      if (!en || !Object.values(en.values).includes(n)) {
        throw new EncodeError(`${spec.name}.${field.name}: ${n} is not a value of enum ${field.typeName}`);
      }
      w.varint(BigInt.asUintN(64, BigInt(n)));
      return;
    }
    case 'uint32':
      if (typeof value === 'number' && value >= 0 && value <= 0xffffffff && Number.isInteger(value)) w.varint(value);
      else w.varint(BigInt.asUintN(32, integer(spec, field, value)));
      return;
    case 'int32':
      if (typeof value === 'number' && value >= 0 && value <= 0x7fffffff && Number.isInteger(value)) w.varint(value);
      else w.varint(BigInt.asUintN(64, BigInt.asIntN(32, integer(spec, field, value))));
      return;
    case 'uint64':
    case 'int64':
      w.varint(BigInt.asUintN(64, integer(spec, field, value)));
      return;
    case 'sint32':
    case 'sint64': {
      const bits = field.type === 'sint32' ? 32 : 64;
      const n = BigInt.asIntN(bits, integer(spec, field, value));
      w.varint(BigInt.asUintN(bits, (n << 1n) ^ (n >> BigInt(bits - 1))));
      return;
    }
    case 'fixed32':
      w.fixed(4, (v) => v.setUint32(0, Number(BigInt.asUintN(32, integer(spec, field, value))), true));
      return;
    case 'sfixed32':
      w.fixed(4, (v) => v.setInt32(0, Number(BigInt.asIntN(32, integer(spec, field, value))), true));
      return;
    case 'fixed64':
      w.fixed(8, (v) => v.setBigUint64(0, BigInt.asUintN(64, integer(spec, field, value)), true));
      return;
    case 'sfixed64':
      w.fixed(8, (v) => v.setBigInt64(0, BigInt.asIntN(64, integer(spec, field, value)), true));
      return;
    case 'double':
      w.fixed(8, (v) => v.setFloat64(0, Number(value), true));
      return;
    case 'float':
      w.fixed(4, (v) => v.setFloat32(0, Number(value), true));
      return;
    default:
      throw new EncodeError(`${spec.name}.${field.name}: cannot encode a ${field.type} as a scalar`);
  }
}
