/**
 * Images as crit's JSON, both ways: `{"magic": "CORE", "entries": [...]}` with each entry's
 * fields in field-number order, enums by name, bytes in base64, and, when `pretty`, the
 * field-specific renderings CRIU's options ask for (hex, flags, device numbers, IP addresses,
 * socket constants). The rules are crit's (pycriu's pb2dict), so our output equals its output.
 */
import { ImageError } from './errors.js';
import type { ExtraData, Image, ImageEntry, IpcMessage } from './framing.js';
import { LAYOUTS } from './formats.js';
import { MAGICS, type MagicName } from './magic.js';
import type { FieldSpec, ImageSchema } from './schema_types.js';
import { SCHEMA } from './generated/schema.js';
import { messageSpec, type PbMessage, type PbScalar, type PbValue } from './wire.js';
import type { JsonObject, JsonValue } from './pyjson.js';
import { decodeBase64Lines, decodeQuotedPrintable, encodeBase64Lines, encodeQuotedPrintable } from './text_codecs.js';
import { DICT_MAPS, FLAG_MAPS, formatFlags, parseFlags } from './crit_maps.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../sys/sockaddr.js';

export interface ToJsonOptions {
  /** crit's --pretty: hex, flags, devices, addresses rendered for people. */
  pretty?: boolean;
  /** crit show --nopl: replace extra data with its size ("... <22B>"). */
  noPayload?: boolean;
  schema?: ImageSchema;
}

/** An image as crit's JSON object. */
export function imageToJson(image: Image, options: ToJsonOptions = {}): JsonObject {
  const schema = options.schema ?? SCHEMA;
  const pretty = options.pretty ?? false;
  return {
    magic: image.magic,
    entries: image.entries.map((entry) => {
      const json = messageToJson(schema, entry.type, entry.message, pretty, false);
      if (entry.extra !== undefined) json['extra'] = extraToJson(schema, entry.extra, options.noPayload ?? false);
      return json;
    }),
  };
}

/** One message as a JSON object (crit's pb2dict). */
export function messageToJson(schema: ImageSchema, type: string, msg: PbMessage, pretty: boolean, hex: boolean): JsonObject {
  const out: JsonObject = {};
  for (const field of messageSpec(schema, type).fields) {
    const value = msg[field.name];
    if (value === undefined) continue;
    if (field.rule === 'repeated') {
      const list = value as PbValue[];
      if (list.length === 0) continue;
      out[field.name] = pretty && field.criu?.ipadd ? [formatIp(list as number[])] : list.map((v) => valueToJson(schema, field, v, pretty, hex));
    } else {
      out[field.name] = valueToJson(schema, field, value, pretty, hex);
    }
  }
  return out;
}

function valueToJson(schema: ImageSchema, field: FieldSpec, value: PbValue, pretty: boolean, inheritedHex: boolean): JsonValue {
  const hex = inheritedHex || field.criu?.hex === true;
  switch (field.type) {
    case 'message':
      return messageToJson(schema, field.typeName!, value as PbMessage, pretty, hex);
    case 'bytes':
      return field.criu?.conv === 'unix_name' ? encodeQuotedPrintable(value as Uint8Array) : encodeBase64Lines(value as Uint8Array);
    case 'enum':
      return enumName(schema, field, value as number);
    case 'bool':
    case 'string':
      return value as boolean | string;
    case 'float':
    case 'double':
      return value as number;
    default:
      return integerToJson(field, value as number | bigint, pretty, hex);
  }
}

function integerToJson(field: FieldSpec, value: number | bigint, pretty: boolean, hex: boolean): JsonValue {
  if (!pretty) return value;
  const big = BigInt(value);
  if (hex) return hexString(big);
  if (field.criu?.dev) return formatDev(big, field.criu.odev === true);
  if (field.criu?.flags) {
    const map = FLAG_MAPS[field.criu.flags];
    return map ? formatFlags(big, map) : hexString(big);
  }
  if (field.criu?.dict) {
    const name = DICT_MAPS[field.criu.dict]?.[field.name]?.[Number(big)];
    if (name !== undefined) return name;
  }
  return value;
}

/** Python's "0x%x" % value (a negative value prints as 0x-5, as Python does). */
const hexString = (v: bigint) => (v < 0n ? `0x-${(-v).toString(16)}` : `0x${v.toString(16)}`);

function formatDev(value: bigint, oldEncoding: boolean): string {
  if (oldEncoding) {
    // glibc's major()/minor() of a dev_t.
    const major = ((value >> 8n) & 0xfffn) | ((value >> 32n) & ~0xfffn);
    const minor = (value & 0xffn) | ((value >> 12n) & ~0xffn);
    return `${major}:${minor}`;
  }
  return `${value >> 20n}:${value & 0xfffffn}`; // the kernel's MINORBITS = 20
}

function enumName(schema: ImageSchema, field: FieldSpec, value: number): string {
  const en = schema.enums[field.typeName!]!;
  const entry = Object.entries(en.values).find(([, v]) => v === value);
  return entry![0];
}

// An address is kept as u32 words holding the bytes in network order (read little-endian).
function wordsToBytes(words: number[]): Uint8Array {
  const bytes = new Uint8Array(words.length * 4);
  const view = new DataView(bytes.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w >>> 0, true));
  return bytes;
}

function bytesToWords(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / 4 }, (_, i) => view.getUint32(i * 4, true));
}

/** crit's rendering: IPv4 for one word, else IPv6 of the first four, mapped IPv4 in hex groups. */
function formatIp(words: number[]): string {
  return words.length === 1 ? formatIPv4(wordsToBytes(words)) : formatIPv6(wordsToBytes(words.slice(0, 4)), { dottedMapped: false });
}

function parseIp(text: string): number[] {
  return bytesToWords(text.includes(':') ? parseIPv6(text) : parseIPv4(text));
}

function extraToJson(schema: ImageSchema, extra: ExtraData, noPayload: boolean): JsonValue {
  if (noPayload) return `... <${humanSize(extraSize(extra))}>`;
  if (extra instanceof Uint8Array) return encodeBase64Lines(extra);
  if (Array.isArray(extra)) {
    if (extra.every((v) => typeof v === 'number')) return extra as number[];
    return (extra as IpcMessage[]).flatMap((m) => [
      messageToJson(schema, 'ipc_msg', m.header, false, false),
      encodeBase64Lines(m.data),
    ]);
  }
  return { inq: encodeBase64Lines(extra.inq), outq: encodeBase64Lines(extra.outq) };
}

function extraSize(extra: ExtraData): number {
  if (extra instanceof Uint8Array) return extra.length;
  if (Array.isArray(extra)) {
    return extra.reduce<number>((n, v) => n + (typeof v === 'number' ? 2 : v.data.length), 0);
  }
  return extra.inq.length + extra.outq.length;
}

/** crit's human_readable(): 22B, 1.5KB, 4MB. */
function humanSize(bytes: number): string {
  let n = bytes;
  for (const unit of ['', 'K', 'M', 'G', 'T', 'P', 'E', 'Z']) {
    if (n < 1024) return Number.isInteger(n) ? `${n}${unit}B` : `${n.toFixed(1)}${unit}B`;
    n /= 1024;
  }
  return `${n.toFixed(1)}YB`;
}

// ---------------------------------------------------------------------------------------------
// JSON → image (crit encode)

/** Builds an image from crit's JSON; throws ImageError('IMG_BAD_JSON') naming what is wrong. */
export function imageFromJson(json: JsonValue, options: { schema?: ImageSchema; file?: string } = {}): Image {
  const schema = options.schema ?? SCHEMA;
  const file = options.file ?? 'JSON';
  const fail = (what: string): never => {
    throw new ImageError('IMG_BAD_JSON', { file }, what);
  };
  if (!isObject(json)) return fail('an image must be an object with "magic" and "entries"');
  const magic = json['magic'];
  if (typeof magic !== 'string' || !(magic in MAGICS)) return fail(`unknown image kind ${JSON.stringify(magic)}`);
  const layout = LAYOUTS[magic as MagicName];
  if (!layout) {
    throw new ImageError('IMG_UNKNOWN_KIND', { file }, `criu-ts cannot encode ${magic} images`);
  }
  const entries = json['entries'];
  if (!Array.isArray(entries)) return fail('"entries" must be a list');

  let ghostChunks = false;
  const out: ImageEntry[] = entries.map((raw, index) => {
    if (!isObject(raw)) return fail(`entry ${index} must be an object`);
    const type =
      layout.kind === 'plain' ? layout.entry
      : layout.kind === 'pagemap' ? (index === 0 ? 'pagemap_head' : 'pagemap_entry')
      : index === 0 ? 'ghost_file_entry' : 'ghost_chunk_entry';
    const { extra, ...fields } = raw;
    const where = `entry ${index}`;
    let message: PbMessage;
    try {
      message = messageFromJson(schema, type, fields, where);
    } catch (err) {
      if (err instanceof SyntaxError || err instanceof TypeError) return fail(err.message);
      throw err;
    }
    if (index === 0 && type === 'ghost_file_entry') ghostChunks = message['chunks'] === true;
    const entry: ImageEntry = { type, message };
    const wantsExtra =
      (layout.kind === 'plain' && layout.extra !== undefined) ||
      (layout.kind === 'ghost' && (index > 0 || !ghostChunks));
    if (extra !== undefined && wantsExtra) {
      try {
        entry.extra = extraFromJson(schema, layout.kind === 'plain' ? layout.extra!.kind : 'blob', extra, where);
      } catch (err) {
        if (err instanceof SyntaxError || err instanceof TypeError) return fail(`${where}: extra: ${err.message}`);
        throw err;
      }
    } else if (extra !== undefined) {
      return fail(`${where}: a ${type} carries no extra data`);
    }
    return entry;
  });
  return { magic: magic as MagicName, entries: out };
}

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** One JSON object as a message (crit's dict2pb); unknown keys are refused, never dropped. */
export function messageFromJson(schema: ImageSchema, type: string, json: JsonObject, where: string): PbMessage {
  const spec = messageSpec(schema, type);
  const msg: PbMessage = {};
  for (const key of Object.keys(json)) {
    if (!spec.fields.some((f) => f.name === key)) throw new TypeError(`${where}: ${type} has no field '${key}'`);
  }
  for (const field of spec.fields) {
    const value = json[field.name];
    if (value === undefined) continue;
    const at = `${where}.${field.name}`;
    if (field.rule === 'repeated') {
      if (!Array.isArray(value)) throw new TypeError(`${at} must be a list`);
      if (field.criu?.ipadd && typeof value[0] === 'string') msg[field.name] = parseIp(value[0]);
      else msg[field.name] = value.map((v, i) => valueFromJson(schema, field, v, `${at}[${i}]`));
    } else {
      msg[field.name] = valueFromJson(schema, field, value, at);
    }
  }
  return msg;
}

function valueFromJson(schema: ImageSchema, field: FieldSpec, value: JsonValue, at: string): PbValue {
  switch (field.type) {
    case 'message':
      if (!isObject(value)) throw new TypeError(`${at} must be an object`);
      return messageFromJson(schema, field.typeName!, value, at);
    case 'bytes':
      if (typeof value !== 'string') throw new TypeError(`${at} must be a string`);
      return field.criu?.conv === 'unix_name' ? decodeQuotedPrintable(value) : decodeBase64Lines(value);
    case 'enum': {
      const number = schema.enums[field.typeName!]!.values[String(value)];
      if (number === undefined) throw new TypeError(`${at}: ${JSON.stringify(value)} is not a value of enum ${field.typeName}`);
      return number;
    }
    case 'bool':
      if (typeof value !== 'boolean') throw new TypeError(`${at} must be true or false`);
      return value;
    case 'string':
      if (typeof value !== 'string') throw new TypeError(`${at} must be a string`);
      return value;
    case 'float':
    case 'double':
      if (typeof value !== 'number') throw new TypeError(`${at} must be a number`);
      return value;
    default:
      return integerFromJson(field, value, at);
  }
}

const BIG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n], sint32: [-(2n ** 31n), 2n ** 31n - 1n], sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n], fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n], sint64: [-(2n ** 63n), 2n ** 63n - 1n], sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n], fixed64: [0n, 2n ** 64n - 1n],
};

function integerFromJson(field: FieldSpec, value: JsonValue, at: string): PbScalar {
  let big: bigint;
  if (typeof value === 'number' && Number.isInteger(value)) big = BigInt(value);
  else if (typeof value === 'bigint') big = value;
  else if (typeof value === 'string') big = integerFromString(field, value, at);
  else throw new TypeError(`${at} must be an integer`);
  const [min, max] = RANGES[field.type]!;
  if (big < min || big > max) throw new TypeError(`${at}: ${big} does not fit a ${field.type}`);
  return BIG_TYPES.has(field.type) ? big : Number(big);
}

function integerFromString(field: FieldSpec, text: string, at: string): bigint {
  if (field.criu?.dev) {
    const parts = text.split(':');
    if (parts.length !== 2 || parts.some((p) => !/^\d+$/.test(p))) throw new TypeError(`${at}: bad device number '${text}'`);
    const [major, minor] = parts.map(BigInt) as [bigint, bigint];
    if (field.criu.odev) {
      // glibc's makedev().
      return ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
    }
    return (major << 20n) | minor;
  }
  if (field.criu?.flags && FLAG_MAPS[field.criu.flags]) return parseFlags(text, FLAG_MAPS[field.criu.flags]!, at);
  if (field.criu?.dict) {
    const names = DICT_MAPS[field.criu.dict]?.[field.name] ?? {};
    const hit = Object.entries(names).find(([, name]) => name === text);
    if (hit) return BigInt(hit[0]);
  }
  return pythonInt(text, at);
}

/** Python's int(text, 0): decimal, 0x/0o/0b prefixes, an optional sign, underscores between digits. */
export function pythonInt(text: string, at: string): bigint {
  const m = /^\s*([+-]?)(0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|[1-9](?:_?[0-9])*|0(?:_?0)*)\s*$/.exec(text);
  if (!m) throw new TypeError(`${at}: '${text}' is not an integer`);
  const digits = m[2]!.replace(/_/g, '');
  const magnitude = /^0[oO]/.test(digits) ? BigInt('0o' + digits.slice(2)) : BigInt(digits);
  return m[1] === '-' ? -magnitude : magnitude;
}

function extraFromJson(schema: ImageSchema, kind: string, value: JsonValue, where: string): ExtraData {
  switch (kind) {
    case 'tcp-queues': {
      if (!isObject(value) || typeof value['inq'] !== 'string' || typeof value['outq'] !== 'string') {
        throw new TypeError('must be {"inq": ..., "outq": ...}');
      }
      return { inq: decodeBase64Lines(value['inq']), outq: decodeBase64Lines(value['outq']) };
    }
    case 'ipc-sem':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'number')) throw new TypeError('must be a list of numbers');
      return value as number[];
    case 'ipc-msg': {
      if (!Array.isArray(value) || value.length % 2 !== 0) throw new TypeError('must alternate message headers and texts');
      const messages: IpcMessage[] = [];
      for (let i = 0; i < value.length; i += 2) {
        const header = value[i]!;
        const text = value[i + 1]!;
        if (!isObject(header) || typeof text !== 'string') throw new TypeError('must alternate message headers and texts');
        messages.push({ header: messageFromJson(schema, 'ipc_msg', header, `${where}.extra`), data: decodeBase64Lines(text) });
      }
      return messages;
    }
    default:
      if (typeof value !== 'string') throw new TypeError('must be base64 text');
      return decodeBase64Lines(value);
  }
}
