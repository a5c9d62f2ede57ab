/**
 * Struct layouts as data: a layout names a C struct, its size and, for each field, its offset, type
 * and size. The probe test compares every layout with `sizeof`/`offsetof` from the C headers.
 * Fields are read and written on Buffers in the host's byte order (x86_64 and aarch64 are both
 * little-endian; loading this module on a big-endian host throws).
 */

import { endianness } from 'node:os';

/** The C type of a field: fixed-width integers, a pointer (8 bytes on LP64), or raw bytes. */
export type FieldType = 'u8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64' | 'ptr' | 'bytes';

/** Where a field is and what it holds. */
export interface Field {
  readonly offset: number;
  readonly type: FieldType;
  readonly size: number;
}

/** A C struct: its name, `sizeof`, and fields by C name (union members may overlap). */
export interface Layout<K extends string = string> {
  readonly name: string;
  readonly size: number;
  readonly fields: { readonly [F in K]: Field };
}

const TYPE_SIZES: Readonly<Record<Exclude<FieldType, 'bytes'>, number>> = {
  u8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  u64: 8,
  i64: 8,
  ptr: 8,
};

if (endianness() !== 'LE') throw new Error('criu-ts supports little-endian hosts only');

/**
 * Declares a layout. Each field is `[offset, type]`, or `[offset, 'bytes', size]`. Throws if a field
 * does not fit in `size`: a wrong table fails at load, not at the first call.
 */
export function defineLayout<K extends string>(
  name: string,
  size: number,
  fields: { readonly [F in K]: readonly [offset: number, type: FieldType, size?: number] },
): Layout<K> {
  const out = {} as { [F in K]: Field };
  for (const key of Object.keys(fields) as K[]) {
    const [offset, type, bytes] = fields[key];
    const fieldSize = type === 'bytes' ? bytes : TYPE_SIZES[type];
    if (fieldSize === undefined || fieldSize <= 0 || offset < 0 || offset + fieldSize > size) {
      throw new Error(`Layout ${name}: field ${key} (${type} at ${offset}) does not fit in ${size} bytes`);
    }
    out[key] = Object.freeze({ offset, type, size: fieldSize });
  }
  return Object.freeze({ name, size, fields: Object.freeze(out) });
}

/** A Buffer over the same bytes as `view` (no copy). */
export function asBuffer(view: ArrayBufferView | ArrayBuffer): Buffer {
  if (Buffer.isBuffer(view)) return view;
  if (view instanceof ArrayBuffer) return Buffer.from(view);
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** A zeroed Buffer for `count` consecutive structs of `layout`. */
export function allocStruct(layout: Layout, count = 1): Buffer {
  return Buffer.alloc(layout.size * count);
}

/** Writes an integer field of the struct at `base` in `buf`. 64-bit fields take bigints or numbers. */
export function setField<K extends string>(buf: Buffer, layout: Layout<K>, field: K, value: number | bigint, base = 0): void {
  const f = layout.fields[field];
  const at = base + f.offset;
  switch (f.type) {
    case 'u8':
      buf.writeUInt8(Number(value), at);
      return;
    case 'u16':
      buf.writeUInt16LE(Number(value), at);
      return;
    case 'i16':
      buf.writeInt16LE(Number(value), at);
      return;
    case 'u32':
      buf.writeUInt32LE(Number(value) >>> 0, at);
      return;
    case 'i32':
      buf.writeInt32LE(Number(value) | 0, at);
      return;
    case 'u64':
    case 'ptr':
      buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(value)), at);
      return;
    case 'i64':
      buf.writeBigInt64LE(BigInt.asIntN(64, BigInt(value)), at);
      return;
    case 'bytes':
      throw new TypeError(`Layout ${layout.name}: field ${field} holds bytes; use fieldBytes()`);
  }
}

/** Reads a field as a bigint (64-bit fields: addresses, sizes, inode numbers). */
export function getBig<K extends string>(buf: Buffer, layout: Layout<K>, field: K, base = 0): bigint {
  const f = layout.fields[field];
  const at = base + f.offset;
  switch (f.type) {
    case 'u64':
    case 'ptr':
      return buf.readBigUInt64LE(at);
    case 'i64':
      return buf.readBigInt64LE(at);
    default:
      return BigInt(getNum(buf, layout, field, base));
  }
}

/** Reads a field as a number; a 64-bit field must hold a value below 2^53 (else it throws). */
export function getNum<K extends string>(buf: Buffer, layout: Layout<K>, field: K, base = 0): number {
  const f = layout.fields[field];
  const at = base + f.offset;
  switch (f.type) {
    case 'u8':
      return buf.readUInt8(at);
    case 'u16':
      return buf.readUInt16LE(at);
    case 'i16':
      return buf.readInt16LE(at);
    case 'u32':
      return buf.readUInt32LE(at);
    case 'i32':
      return buf.readInt32LE(at);
    case 'u64':
    case 'ptr':
    case 'i64': {
      const v = getBig(buf, layout, field, base);
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new RangeError(`Layout ${layout.name}: field ${field} holds ${v}, too big for a number`);
      }
      return Number(v);
    }
    case 'bytes':
      throw new TypeError(`Layout ${layout.name}: field ${field} holds bytes; use fieldBytes()`);
  }
}

/** The bytes of a field (a view into `buf`, not a copy). */
export function fieldBytes<K extends string>(buf: Buffer, layout: Layout<K>, field: K, base = 0): Buffer {
  const f = layout.fields[field];
  return buf.subarray(base + f.offset, base + f.offset + f.size);
}
