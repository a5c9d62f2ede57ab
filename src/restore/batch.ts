/**
 * Batches of syscalls run inside a task by the restorer blob: the driver writes the records, their
 * data and a control block into the task's bootstrap area with `process_vm_writev`, points the
 * thread at the blob's batch entry (`PTRACE_SETREGSET`), resumes it (`PTRACE_CONT`) and waits for
 * the blob's int3; the results come back with one `process_vm_readv`. One ptrace round trip for a
 * whole step (every memory area of a task and every run of its pages, every fd), however many
 * syscalls it takes.
 */
import { CriuTsError } from '../errors.js';
import { PtraceError, type Tracee } from '../ptrace/index.js';
import { describeWaitStatus, errnoDescription, errnoName, SIG, syscallName, type SyscallName } from '../sys/index.js';
import {
  decodeControl, decodeResults, encodeControl, encodeRecords, R_CTL, R_REC, R_STATUS, type ResultRef, type SyscallRecord,
} from '../../parasite/restorer_protocol.js';
import type { Bootstrap } from './bootstrap.js';

/** A syscall of a batch that returned -errno (the batch stopped there), or a blob that stopped oddly. */
export class BatchError extends CriuTsError {
  readonly tid: number;
  readonly errno: number | undefined;
  readonly index: number | undefined;

  constructor(code: 'RESTORER_SYSCALL_FAILED' | 'RESTORER_FAULT', message: string, init: { tid: number; errno?: number; index?: number }) {
    super(code, message);
    this.tid = init.tid;
    this.errno = init.errno;
    this.index = init.index;
  }
}

/** Bytes a batch's syscalls point at, laid out in the bootstrap's data part. */
export class DataArea {
  readonly base: bigint;
  readonly cap: number;
  #bytes: Uint8Array;
  #used = 0;

  constructor(base: bigint, cap: number) {
    this.base = base;
    this.cap = cap;
    this.#bytes = new Uint8Array(cap);
  }

  /** Copies `bytes` in (8-byte aligned); returns their task address. */
  put(bytes: Uint8Array): bigint {
    const at = Math.ceil(this.#used / 8) * 8;
    if (at + bytes.byteLength > this.cap) throw new RangeError(`The bootstrap data area (${this.cap} bytes) is full`);
    this.#bytes.set(bytes, at);
    this.#used = at + bytes.byteLength;
    return this.base + BigInt(at);
  }

  /** A NUL-terminated string. */
  cstring(s: string): bigint {
    const b = Buffer.from(s + '\0', 'utf8');
    return this.put(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  }

  /** 64-bit words. */
  words(values: ReadonlyArray<bigint | number>): bigint {
    return this.put(new Uint8Array(BigUint64Array.from(values.map((v) => BigInt.asUintN(64, BigInt(v)))).buffer));
  }

  get used(): number {
    return this.#used;
  }

  /** The bytes written so far. */
  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#used);
  }
}

/** The records of one batch and their data. */
export class Batch {
  readonly records: SyscallRecord[] = [];
  readonly data: DataArea;
  readonly #nr: Readonly<Record<SyscallName, number>>;

  constructor(boot: Bootstrap, nr: Readonly<Record<SyscallName, number>>) {
    this.data = new DataArea(boot.data, boot.layout.dataCap);
    this.#nr = nr;
  }

  /** Adds `name(args...)`; returns a reference to its result for later records' arguments. */
  add(name: SyscallName | number, args: ReadonlyArray<bigint | number | ResultRef>, opts?: { stop?: boolean; what?: string }): ResultRef {
    const nr = typeof name === 'number' ? name : this.#nr[name];
    const rec: SyscallRecord = { nr, args, stop: opts?.stop ?? true };
    if (opts?.what !== undefined) rec.what = opts.what;
    this.records.push(rec);
    return { ref: this.records.length - 1 };
  }

  get length(): number {
    return this.records.length;
  }
}

/** Options of {@link runBatch}. */
export interface RunBatchOptions {
  /** How long the batch may take; 60 s when absent (a large memory batch reads GiBs). */
  timeoutMs?: number;
}

/**
 * Runs `batch` in the stopped thread `t` (any thread of the task: they share the bootstrap) and
 * returns every record's result (signed: -errno for failures of records not flagged `stop`).
 * A failed `stop` record throws {@link BatchError} naming the call and what it was for.
 */
export function runBatch(t: Tracee, boot: Bootstrap, batch: Batch, opts?: RunBatchOptions): bigint[] {
  const n = batch.records.length;
  if (n === 0) return [];
  if (n > boot.layout.recordsCap) throw new RangeError(`A batch of ${n} records does not fit the bootstrap's ${boot.layout.recordsCap}`);
  const recs = new Uint8Array(n * R_REC.SIZE);
  encodeRecords(batch.records, recs);
  const ctl = new Uint8Array(R_CTL.SIZE);
  encodeControl(ctl, { count: n, records: boot.records });
  if (batch.data.used > 0) t.writeMemory(boot.data, batch.data.bytes);
  t.writeMemory(boot.records, recs);
  t.writeMemory(boot.ctl, ctl);

  const arch = t.arch;
  const conv = arch.table.syscall;
  const changes: Record<string, bigint> = {
    [arch.table.ip]: boot.batchEntry,
    [arch.table.sp]: boot.stackTop,
    [conv.args[0]]: boot.ctl,
  };
  if (conv.origNr !== null) changes[conv.origNr] = -1n;
  t.setRegs(arch.withRegs(t.getRegs(), changes));
  t.cont(0);
  waitForTrap(t, boot, opts?.timeoutMs ?? 60_000);

  const state = decodeControl(t.readMemory(boot.ctl, R_CTL.SIZE));
  const results = decodeResults(t.readMemory(boot.records, n * R_REC.SIZE), n);
  if (state.status === R_STATUS.DONE && state.done === n) return results;
  if (state.status === R_STATUS.STOPPED && state.done >= 1) {
    const i = state.done - 1;
    const rec = batch.records[i]!;
    const errno = Number(-results[i]!);
    const call = `${syscallName(rec.nr)}(${rec.args.map((a) => (typeof a === 'object' ? `<result ${a.ref}>` : fmt(a))).join(', ')})`;
    const what = rec.what === undefined ? '' : ` to ${rec.what}`;
    throw new BatchError('RESTORER_SYSCALL_FAILED', `${call}${what} failed in ${t.name}: ${errnoName(errno)} (${errnoDescription(errno)})`, { tid: t.tid, errno, index: i });
  }
  throw new BatchError('RESTORER_FAULT', `The restorer in ${t.name} stopped with status ${state.status} after ${state.done} of ${n} records`, { tid: t.tid, index: state.done });
}

/** Waits for the batch's int3 (a SIGTRAP stop just past it); any other end is an error. */
function waitForTrap(t: Tracee, boot: Bootstrap, timeoutMs: number): void {
  const ipName = t.arch.table.ip;
  for (;;) {
    const st = t.waitStop({ timeoutMs });
    if (st.kind === 'exited' || st.kind === 'signaled') {
      throw new PtraceError('TASK_DIED', `${t.name} died in the restorer: ${describeWaitStatus(st)}`, { tid: t.tid, pid: t.pid, status: st });
    }
    if (st.kind === 'stopped' && st.signal === SIG.TRAP) {
      const ip = t.getRegs()[ipName]!;
      if (ip === boot.batchTrapIp) return;
      throw new BatchError('RESTORER_FAULT', `${t.name} trapped at 0x${ip.toString(16)}, not at the restorer's trap 0x${boot.batchTrapIp.toString(16)}`, { tid: t.tid });
    }
    if (st.kind === 'stopped' && !STOPS.has(st.signal)) {
      const ip = t.getRegs()[ipName]!;
      throw new BatchError('RESTORER_FAULT', `${t.name} got signal ${st.signal} at 0x${ip.toString(16)} in the restorer`, { tid: t.tid });
    }
    // A stop signal or an event stop: not ours to keep while the task is half restored.
    t.cont(0);
  }
}

const STOPS = new Set<number>([SIG.STOP, SIG.TSTP, SIG.TTIN, SIG.TTOU]);

function fmt(a: bigint | number): string {
  const v = BigInt.asIntN(64, BigInt(a));
  return v >= -4096n && v <= 65536n ? String(v) : `0x${BigInt.asUintN(64, v).toString(16)}`;
}
