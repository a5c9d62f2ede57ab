/**
 * The framing of a CRIU image file:
 *
 *   IMAGE ::= [HEAD_MAGIC] MAGIC { u32 SIZE, PAYLOAD [EXTRA] }
 *
 * (little-endian u32s; no head magic for inventory). Decoding is strict: a magic we do not
 * know, a file cut short, a payload that does not parse, a field our schema lacks, or bytes the
 * kind does not allow are each refused with their own error code, naming the file and offset.
 */
import { ImageError, type ImageErrorCode } from './errors.js';
import { LAYOUTS, type EntryLayout, type ExtraSpec } from './formats.js';
import { IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, MAGICS, headMagicFor, magicName, type MagicName } from './magic.js';
import type { ImageSchema } from './schema_types.js';
import { SCHEMA } from './generated/schema.js';
import { decodeMessage, encodeMessage, EncodeError, WireError, type PbMessage } from './wire.js';

/** One SysV message of a queue: its ipc_msg header and its text. */
export interface IpcMessage {
  header: PbMessage;
  data: Uint8Array;
}

/** Raw data after an entry's payload; its shape depends on the kind (see ExtraSpec). */
export type ExtraData = Uint8Array | { inq: Uint8Array; outq: Uint8Array } | number[] | IpcMessage[];

export interface ImageEntry {
  /** The message type of this entry (e.g. `core_entry`). */
  type: string;
  message: PbMessage;
  extra?: ExtraData;
}

export interface Image {
  magic: MagicName;
  entries: ImageEntry[];
}

export interface DecodeOptions {
  /** Names the input in errors (a path, or "stdin"). */
  file?: string;
  schema?: ImageSchema;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** Reads the magic(s) at the start of an image: the kind and where its entries start. */
export function readMagic(buf: Uint8Array, file = 'image'): { magic: MagicName; offset: number } {
  if (buf.length < 4) {
    throw new ImageError('IMG_TRUNCATED', { file, offset: 0 }, `file of ${buf.length} bytes is too short for a magic`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let value = view.getUint32(0, true);
  let offset = 4;
  if (value === IMG_COMMON_MAGIC || value === IMG_SERVICE_MAGIC) {
    if (buf.length < 8) {
      throw new ImageError('IMG_TRUNCATED', { file, offset: 4 }, 'file ends after the head magic');
    }
    value = view.getUint32(4, true);
    offset = 8;
  }
  const name = magicName(value);
  if (name === undefined) {
    throw new ImageError('IMG_BAD_MAGIC', { file, offset: offset - 4 }, `unknown magic 0x${value.toString(16)} (not a CRIU image, or a raw pages file)`);
  }
  return { magic: name, offset };
}

/** Decodes a whole image file. */
export function decodeImage(buf: Uint8Array, options: DecodeOptions = {}): Image {
  const file = options.file ?? 'image';
  const schema = options.schema ?? SCHEMA;
  const { magic, offset } = readMagic(buf, file);
  const layout = layoutOf(magic, schema, file);
  const cursor = new Cursor(buf, offset, file, schema);
  const entries: ImageEntry[] = [];

  switch (layout.kind) {
    case 'plain':
      while (!cursor.atEnd()) {
        if (layout.single && entries.length === 1) {
          cursor.fail('IMG_TRAILING_BYTES', `${buf.length - cursor.pos} bytes after the single ${layout.entry} of a ${magic} image`);
        }
        const entryOffset = cursor.pos;
        const message = cursor.message(layout.entry);
        const entry: ImageEntry = { type: layout.entry, message };
        if (layout.extra) entry.extra = cursor.extra(layout.extra, message, entryOffset);
        entries.push(entry);
      }
      if (layout.single && entries.length === 0) cursor.fail('IMG_TRUNCATED', `a ${magic} image needs one ${layout.entry}`);
      break;
    case 'pagemap':
      if (cursor.atEnd()) cursor.fail('IMG_TRUNCATED', 'a pagemap image needs its pagemap_head');
      entries.push({ type: 'pagemap_head', message: cursor.message('pagemap_head') });
      while (!cursor.atEnd()) entries.push({ type: 'pagemap_entry', message: cursor.message('pagemap_entry') });
      break;
    case 'ghost': {
      if (cursor.atEnd()) cursor.fail('IMG_TRUNCATED', 'a ghost file image needs its ghost_file_entry');
      const head = cursor.message('ghost_file_entry');
      if (head['chunks'] === true) {
        entries.push({ type: 'ghost_file_entry', message: head });
        while (!cursor.atEnd()) {
          const at = cursor.pos;
          const chunk = cursor.message('ghost_chunk_entry');
          entries.push({ type: 'ghost_chunk_entry', message: chunk, extra: cursor.bytes(Number(chunk['len']), at, 'ghost chunk data') });
        }
      } else {
        entries.push({ type: 'ghost_file_entry', message: head, extra: cursor.bytes(buf.length - cursor.pos, cursor.pos, 'ghost file data') });
      }
      break;
    }
  }
  return { magic, entries };
}

function layoutOf(magic: MagicName, schema: ImageSchema, file: string): EntryLayout {
  const layout = LAYOUTS[magic];
  const types =
    layout?.kind === 'plain' ? [layout.entry]
    : layout?.kind === 'pagemap' ? ['pagemap_head', 'pagemap_entry']
    : layout?.kind === 'ghost' ? ['ghost_file_entry', 'ghost_chunk_entry']
    : [];
  if (!layout || types.some((t) => !schema.messages[t])) {
    throw new ImageError('IMG_UNKNOWN_KIND', { file }, `criu-ts cannot decode ${magic} images`);
  }
  return layout;
}

const WIRE_CODES: Record<WireError['kind'], ImageErrorCode> = {
  truncated: 'IMG_BAD_PAYLOAD',
  'bad-payload': 'IMG_BAD_PAYLOAD',
  'unknown-field': 'IMG_UNKNOWN_FIELD',
};

/** Walks the entries of one image, turning every problem into an ImageError with its offset. */
class Cursor {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos: number;
  readonly file: string;
  readonly schema: ImageSchema;

  constructor(buf: Uint8Array, pos: number, file: string, schema: ImageSchema) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
    this.file = file;
    this.schema = schema;
  }

  atEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  fail(code: ImageErrorCode, what: string, offset = this.pos): never {
    throw new ImageError(code, { file: this.file, offset }, what);
  }

  u32(what: string): number {
    if (this.pos + 4 > this.buf.length) {
      this.fail('IMG_TRUNCATED', `file ends inside the size of ${what} (${this.buf.length - this.pos} of 4 bytes)`);
    }
    const value = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return value;
  }

  bytes(length: number, entryOffset: number, what: string): Uint8Array {
    if (this.pos + length > this.buf.length) {
      this.fail('IMG_TRUNCATED', `${what} of the entry at offset ${entryOffset} needs ${length} bytes, the file has ${this.buf.length - this.pos}`);
    }
    const out = Uint8Array.from(this.buf.subarray(this.pos, this.pos + length)); // a plain copy, never a Buffer
    this.pos += length;
    return out;
  }

  message(type: string): PbMessage {
    const sizeOffset = this.pos;
    const size = this.u32(`a ${type} entry`);
    if (size > 0x7fffffff) this.fail('IMG_BAD_PAYLOAD', `entry size ${size} is negative as CRIU's i32`, sizeOffset);
    const start = this.pos;
    if (start + size > this.buf.length) {
      this.fail('IMG_TRUNCATED', `${type} entry of ${size} bytes is cut short: the file has ${this.buf.length - start}`, sizeOffset);
    }
    try {
      return decodeMessage(this.schema, type, this.buf, start, start + size);
    } catch (err) {
      if (err instanceof WireError) {
        this.fail(WIRE_CODES[err.kind], `bad ${type} entry: ${err.message}`, err.offset);
      }
      throw err;
    } finally {
      this.pos = start + size;
    }
  }

  extra(spec: ExtraSpec, message: PbMessage, entryOffset: number): ExtraData {
    switch (spec.kind) {
      case 'blob':
        return this.bytes(spec.size(message), entryOffset, 'extra data');
      case 'tcp-queues':
        return {
          inq: this.bytes(Number(message['inq_len']), entryOffset, 'the receive queue'),
          outq: this.bytes(Number(message['outq_len']), entryOffset, 'the send queue'),
        };
      case 'ipc-shm': {
        const size = Number(message['size']);
        const data = this.bytes(size, entryOffset, 'the segment');
        this.bytes(roundUp(size, 4) - size, entryOffset, 'segment padding');
        return data;
      }
      case 'ipc-sem': {
        const count = Number(message['nsems']);
        const raw = this.bytes(count * 2, entryOffset, 'the semaphore values');
        this.bytes(roundUp(count * 2, 8) - count * 2, entryOffset, 'semaphore padding');
        const values = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        return Array.from({ length: count }, (_, i) => values.getUint16(i * 2, true));
      }
      case 'ipc-msg': {
        const messages: IpcMessage[] = [];
        for (let i = 0; i < Number(message['qnum']); i++) {
          const header = this.message('ipc_msg');
          const size = Number(header['msize']);
          const data = this.bytes(size, entryOffset, 'message text');
          this.bytes(roundUp(size, 8) - size, entryOffset, 'message padding');
          messages.push({ header, data });
        }
        return messages;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Encodes an image; throws ImageError('IMG_BAD_JSON') for entries that do not fit the kind. */
export function encodeImage(image: Image, options: { schema?: ImageSchema; file?: string } = {}): Uint8Array {
  const schema = options.schema ?? SCHEMA;
  const file = options.file ?? 'image';
  const magicValue = MAGICS[image.magic];
  if (magicValue === undefined) throw new ImageError('IMG_UNKNOWN_KIND', { file }, `unknown image kind '${image.magic}'`);
  const layout = layoutOf(image.magic, schema, file);
  if (layout.kind === 'plain' && layout.single && image.entries.length !== 1) {
    throw new ImageError('IMG_BAD_JSON', { file }, `a ${image.magic} image holds exactly one entry, not ${image.entries.length}`);
  }
  const parts: Uint8Array[] = [];
  const head = headMagicFor(image.magic);
  parts.push(u32(...(head === undefined ? [magicValue] : [head, magicValue])));

  image.entries.forEach((entry, index) => {
    const expected = expectedType(layout, index);
    if (entry.type !== expected) {
      throw new ImageError('IMG_BAD_JSON', { file }, `entry ${index} of a ${image.magic} image must be a ${expected}, not a ${entry.type}`);
    }
    parts.push(...framed(schema, entry.type, entry.message, file, index));
    if (entry.extra !== undefined) parts.push(...encodeExtra(schema, layout, entry, file, index));
  });
  return concat(parts);
}

function expectedType(layout: EntryLayout, index: number): string {
  switch (layout.kind) {
    case 'plain':
      return layout.entry;
    case 'pagemap':
      return index === 0 ? 'pagemap_head' : 'pagemap_entry';
    case 'ghost':
      return index === 0 ? 'ghost_file_entry' : 'ghost_chunk_entry';
  }
}

function framed(schema: ImageSchema, type: string, message: PbMessage, file: string, index: number): Uint8Array[] {
  let payload: Uint8Array;
  try {
    payload = encodeMessage(schema, type, message);
  } catch (err) {
    if (err instanceof EncodeError) throw new ImageError('IMG_BAD_JSON', { file }, `entry ${index}: ${err.message}`);
    throw err;
  }
  return [u32(payload.length), payload];
}

function encodeExtra(schema: ImageSchema, layout: EntryLayout, entry: ImageEntry, file: string, index: number): Uint8Array[] {
  const extra = entry.extra!;
  const spec = layout.kind === 'plain' ? layout.extra : undefined;
  const bad = (what: string) => new ImageError('IMG_BAD_JSON', { file }, `entry ${index}: ${what}`);
  if (layout.kind === 'ghost' || spec?.kind === 'blob' || spec?.kind === 'ipc-shm') {
    if (!(extra instanceof Uint8Array)) throw bad('extra data must be bytes');
    const pad = spec?.kind === 'ipc-shm' ? roundUp(extra.length, 4) - extra.length : 0;
    return [extra, new Uint8Array(pad)];
  }
  if (spec?.kind === 'tcp-queues') {
    if (extra instanceof Uint8Array || Array.isArray(extra)) throw bad('extra must hold inq and outq');
    return [extra.inq, extra.outq];
  }
  if (spec?.kind === 'ipc-sem') {
    if (!Array.isArray(extra) || extra.some((v) => typeof v !== 'number')) throw bad('extra must be a list of semaphore values');
    const values = extra as number[];
    const out = new Uint8Array(roundUp(values.length * 2, 8));
    const view = new DataView(out.buffer);
    values.forEach((v, i) => view.setUint16(i * 2, v, true));
    return [out];
  }
  if (spec?.kind === 'ipc-msg') {
    if (!Array.isArray(extra)) throw bad('extra must be a list of messages');
    return (extra as IpcMessage[]).flatMap((m) => [
      ...framed(schema, 'ipc_msg', m.header, file, index),
      m.data,
      new Uint8Array(roundUp(m.data.length, 8) - m.data.length),
    ]);
  }
  throw bad(`a ${entry.type} carries no extra data`);
}

function u32(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint32(i * 4, v >>> 0, true));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Counts the entries of an image as `crit info` reports them (pagemap: without its head). */
export function countEntries(image: Image): number {
  return image.magic === 'PAGEMAP' ? image.entries.length - 1 : image.entries.length;
}
