/**
 * The restorer's binary contract: the control block and the syscall records the driver writes
 * into a task's bootstrap area, and the restorer blob (`parasite/<arch>/restorer.S`) runs. Fixed
 * size, little-endian, the same on every 64-bit architecture; each `.S` defines the same numbers
 * as `.equ R_*` and the blob test compares them with {@link RESTORER_CONSTANTS}.
 *
 * A batch is `count` records run in order by the batch entry, which then traps (x86_64: int3).
 * Record `i`'s argument `j` is taken as is, or — when bit `j` of its `from` mask is set — as the
 * result of record `args[j]` (an earlier one): an fd that openat returned, passed on to mmap.
 */

/** Bumped on any change of a layout or a meaning below. */
export const RESTORER_VERSION = 1;
/** `"CSTR"` read as a little-endian u32: the first word of a control block. */
export const RESTORER_MAGIC = 0x52545343;

/** The control block of a batch. */
export const R_CTL = Object.freeze({
  MAGIC: 0, // u32, driver
  COUNT: 4, // u32, driver: records to run
  RECORDS: 8, // u64, driver: task address of the first record
  DONE: 16, // u32, blob: records run (a failed one included)
  STATUS: 20, // u32, blob: R_STATUS
  RESULT: 24, // i64, blob: the last record's result
  SIZE: 64,
});

/** What `R_CTL.STATUS` says once the blob trapped. */
export const R_STATUS = Object.freeze({ RUNNING: 0, DONE: 1, STOPPED: 2, BAD_CTL: 3 });

/** One record: a syscall and its result. */
export const R_REC = Object.freeze({
  NR: 0, // u32: the syscall number
  FLAGS: 4, // u8: R_F_*
  FROM: 5, // u8: bit j set: args[j] is the index of an earlier record whose result is the argument
  ARGS: 8, // u64[6]
  RESULT: 56, // i64: written by the blob
  SIZE: 64,
  SHIFT: 6,
});

/** Record flag: a -errno result ends the batch (R_STATUS.STOPPED). */
export const R_F_STOP = 1;

/** Every number the `.S` files must define, under its `.equ` name (for the blob test). */
export const RESTORER_CONSTANTS: Readonly<Record<string, number>> = Object.freeze({
  R_MAGIC: RESTORER_MAGIC,
  R_VERSION: RESTORER_VERSION,
  ...Object.fromEntries(Object.entries(R_CTL).map(([k, v]) => [`R_CTL_${k}`, v])),
  ...Object.fromEntries(Object.entries(R_STATUS).map(([k, v]) => [`R_STATUS_${k}`, v])),
  ...Object.fromEntries(Object.entries(R_REC).map(([k, v]) => [`R_REC_${k}`, v])),
  R_F_STOP,
});

/** One syscall of a batch, as the driver plans it. */
export interface SyscallRecord {
  nr: number;
  args: ReadonlyArray<bigint | number | ResultRef>;
  /** A -errno result ends the batch. */
  stop?: boolean;
  /** What the call does, for error messages ("map 7f00-7f10 from /usr/lib/libc.so.6"). */
  what?: string;
}

/** An argument that is the result of an earlier record of the same batch. */
export interface ResultRef {
  readonly ref: number;
}

/** Encodes records into `out` (R_REC.SIZE bytes each). Throws on a forward or self reference. */
export function encodeRecords(records: readonly SyscallRecord[], out: Uint8Array): void {
  if (out.byteLength < records.length * R_REC.SIZE) throw new RangeError(`${records.length} records need ${records.length * R_REC.SIZE} bytes, got ${out.byteLength}`);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  records.forEach((r, i) => {
    if (r.args.length > 6) throw new RangeError(`A syscall takes at most 6 arguments, record ${i} has ${r.args.length}`);
    const at = i * R_REC.SIZE;
    out.fill(0, at, at + R_REC.SIZE);
    v.setUint32(at + R_REC.NR, r.nr, true);
    v.setUint8(at + R_REC.FLAGS, r.stop ? R_F_STOP : 0);
    let from = 0;
    r.args.forEach((a, j) => {
      if (typeof a === 'object') {
        if (a.ref < 0 || a.ref >= i) throw new RangeError(`Record ${i} argument ${j} refers to record ${a.ref}, which does not run before it`);
        from |= 1 << j;
        v.setBigUint64(at + R_REC.ARGS + 8 * j, BigInt(a.ref), true);
      } else {
        v.setBigUint64(at + R_REC.ARGS + 8 * j, BigInt.asUintN(64, BigInt(a)), true);
      }
    });
    v.setUint8(at + R_REC.FROM, from);
  });
}

/** The results the blob wrote back (signed), one per record. */
export function decodeResults(bytes: Uint8Array, count: number): bigint[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: count }, (_, i) => v.getBigInt64(i * R_REC.SIZE + R_REC.RESULT, true));
}

/** Writes a control block for `count` records at `records`. */
export function encodeControl(out: Uint8Array, ctl: { count: number; records: bigint }): void {
  const v = new DataView(out.buffer, out.byteOffset, R_CTL.SIZE);
  out.fill(0, 0, R_CTL.SIZE);
  v.setUint32(R_CTL.MAGIC, RESTORER_MAGIC, true);
  v.setUint32(R_CTL.COUNT, ctl.count, true);
  v.setBigUint64(R_CTL.RECORDS, ctl.records, true);
}

/** Reads what the blob wrote into a control block. */
export function decodeControl(bytes: Uint8Array): { done: number; status: number; result: bigint } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, R_CTL.SIZE);
  return { done: v.getUint32(R_CTL.DONE, true), status: v.getUint32(R_CTL.STATUS, true), result: v.getBigInt64(R_CTL.RESULT, true) };
}
