import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain .mjs build script without type declarations
import { buildSchema, loadProtos } from '../../scripts/gen-image-schema.mjs';
import type { ImageSchema } from '../../src/images/schema_types.js';
import { decodeMessage, encodeMessage, WireError, type PbMessage } from '../../src/images/wire.js';

const PROTO = `
syntax = "proto2";
message kitchen_sink {
  enum color { RED = 1; GREEN = 2; }
  required uint64 u64 = 1;
  optional int64 i64 = 2;
  optional uint32 u32 = 3;
  optional int32 i32 = 4;
  optional sint32 s32 = 5;
  optional sint64 s64 = 6;
  optional fixed32 f32 = 7;
  optional fixed64 f64 = 8;
  optional sfixed32 sf32 = 9;
  optional sfixed64 sf64 = 10;
  optional bool flag = 11;
  optional string text = 12;
  optional bytes blob = 13;
  optional color hue = 14;
  repeated uint32 packed_list = 15 [packed = true];
  repeated uint64 plain_list = 16;
  optional inner child = 17;
  repeated inner children = 18;
}
message inner {
  optional uint32 a = 1;
}
`;

const dir = mkdtempSync(join(tmpdir(), 'criu-ts-wire-'));
writeFileSync(join(dir, 'sink.proto'), PROTO);
const { root } = loadProtos(dir);
const schema: ImageSchema = buildSchema(root);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// protobufjs's own codec is the independent reference for the wire bytes.
const reference = protobuf.parse(PROTO, { keepCase: true }).root.lookupType('kitchen_sink');

const full: PbMessage = {
  u64: 18446744073709551615n,
  i64: -9223372036854775808n,
  u32: 4294967295,
  i32: -2,
  s32: -3,
  s64: -4n,
  f32: 4294967295,
  f64: 18446744073709551614n,
  sf32: -5,
  sf64: -6n,
  flag: true,
  text: 'héllo',
  blob: new Uint8Array([0, 1, 255]),
  hue: 2,
  packed_list: [1, 300, 70000],
  plain_list: [5n, 2n ** 40n],
  child: { a: 7 },
  children: [{ a: 1 }, {}],
};

describe('protobuf wire codec', () => {
  it('encodes every scalar kind as protobufjs does', () => {
    const ours = encodeMessage(schema, 'kitchen_sink', full);
    const decoded = reference.toObject(reference.decode(ours), { longs: String, bytes: Array, defaults: false });
    expect(decoded['u64']).toBe('18446744073709551615');
    expect(decoded['i64']).toBe('-9223372036854775808');
    expect(decoded['i32']).toBe(-2);
    expect(decoded['s32']).toBe(-3);
    expect(decoded['s64']).toBe('-4');
    expect(decoded['sf64']).toBe('-6');
    expect(decoded['text']).toBe('héllo');
    expect(decoded['packed_list']).toEqual([1, 300, 70000]);
    expect(decoded['children']).toEqual([{ a: 1 }, {}]);
  });

  it('decodes back exactly what it encoded (presence kept, bigints exact)', () => {
    const bytes = encodeMessage(schema, 'kitchen_sink', full);
    expect(decodeMessage(schema, 'kitchen_sink', bytes)).toEqual(full);
    expect(decodeMessage(schema, 'kitchen_sink', encodeMessage(schema, 'kitchen_sink', { u64: 0n }))).toEqual({ u64: 0n });
  });

  it('writes fields in field-number order, byte for byte as protobufjs', () => {
    const msg = { plain_list: [1n, 2n], text: 'x', u32: 2, u64: 1n };
    const theirs = reference.encode(reference.fromObject({ u64: 1, u32: 2, text: 'x', plain_list: [1, 2] })).finish();
    expect(Buffer.from(encodeMessage(schema, 'kitchen_sink', msg))).toEqual(Buffer.from(theirs));
  });

  it('packs a [packed = true] list into one length-delimited record', () => {
    // (protobufjs 7.6 ignores the option for proto2, so these bytes are worked out by hand.)
    const bytes = encodeMessage(schema, 'kitchen_sink', { u64: 1n, packed_list: [3, 300] });
    expect(Buffer.from(bytes).toString('hex')).toBe('0801' + '7a03' + '03' + 'ac02');
  });

  it('accepts a packed list written unpacked and the reverse', () => {
    const unpacked = new Uint8Array([0x08, 0x01, 0x78, 0x05, 0x78, 0x06]); // u64=1, packed_list 5, 6 unpacked
    expect(decodeMessage(schema, 'kitchen_sink', unpacked)['packed_list']).toEqual([5, 6]);
    const packed = new Uint8Array([0x08, 0x01, 0x82, 0x01, 0x02, 0x05, 0x06]); // plain_list packed
    expect(decodeMessage(schema, 'kitchen_sink', packed)['plain_list']).toEqual([5n, 6n]);
  });

  it('refuses an unknown field with its offset', () => {
    const bytes = new Uint8Array([0x08, 0x01, 0xa8, 0x06, 0x01]); // field 101
    const err = catchWire(() => decodeMessage(schema, 'kitchen_sink', bytes));
    expect(err.kind).toBe('unknown-field');
    expect(err.offset).toBe(2);
    expect(err.message).toMatch(/no field number 101/);
  });

  it('skips unknown fields of every wire type when asked (RPC), and still refuses what cannot be skipped', () => {
    const skip = { unknownFields: 'skip' } as const;
    const bytes = new Uint8Array([
      0xa8, 0x06, 0x96, 0x01, // field 101, varint 150
      0x08, 0x07, // u64 = 7
      0xb1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, // field 102, fixed64
      0xba, 0x06, 0x03, 0x61, 0x62, 0x63, // field 103, 3 bytes
      0xc5, 0x06, 1, 2, 3, 4, // field 104, fixed32
    ]);
    expect(decodeMessage(schema, 'kitchen_sink', bytes, 0, bytes.length, skip)).toEqual({ u64: 7n });
    expect(catchWire(() => decodeMessage(schema, 'kitchen_sink', new Uint8Array([0x08, 0x01, 0xba, 0x06, 0x05, 0x61]), 0, 6, skip)).kind).toBe('truncated');
    expect(catchWire(() => decodeMessage(schema, 'kitchen_sink', new Uint8Array([0x08, 0x01, 0xcb, 0x06]), 0, 4, skip)).message).toMatch(/wire type 3, which cannot be skipped/);
    expect(catchWire(() => decodeMessage(schema, 'kitchen_sink', bytes)).kind).toBe('unknown-field');
  });

  it('refuses a missing required field, a truncated value and a bad enum', () => {
    expect(catchWire(() => decodeMessage(schema, 'kitchen_sink', new Uint8Array([0x18, 0x01]))).message).toMatch(/required field 'u64'/);
    expect(catchWire(() => decodeMessage(schema, 'kitchen_sink', new Uint8Array([0x08, 0x80]))).kind).toBe('truncated');
    expect(catchWire(() => decodeMessage(schema, 'kitchen_sink', new Uint8Array([0x08, 0x01, 0x62, 0x05, 0x61]))).kind).toBe('truncated');
    expect(catchWire(() => decodeMessage(schema, 'kitchen_sink', new Uint8Array([0x08, 0x01, 0x70, 0x09]))).message).toMatch(/not a value of enum/);
  });

  it('refuses to encode a message that lacks a required field or has a stray key', () => {
    expect(() => encodeMessage(schema, 'kitchen_sink', {})).toThrow(/required field 'u64'/);
    expect(() => encodeMessage(schema, 'kitchen_sink', { u64: 1n, nope: 1 })).toThrow(/no field 'nope'/);
  });
});

function catchWire(fn: () => unknown): WireError {
  try {
    fn();
  } catch (err) {
    if (err instanceof WireError) return err;
    throw err;
  }
  throw new Error('expected a WireError');
}
