/**
 * The bootstrap area of a task being restored: one anonymous mapping (remote `mmap` with
 * `MAP_FIXED_NOREPLACE`) at an address that collides with none of the image's memory areas and
 * none of the task's current mappings. It holds the restorer blob, a control block, the syscall
 * records of a batch and their data, the threads' sigframes, and room to park the vDSO while the
 * old mappings go. Every remote syscall of the task runs at the blob's site from then on, and the
 * last step of the restore unmaps the whole area (src/restore/switch.ts).
 *
 *   blob | control block | records | data | frames | stack | park (vvar, vdso)
 */
import type { Tracee } from '../ptrace/index.js';
import { withRemote } from '../remote/index.js';
import { MAP, PROT } from '../sys/index.js';
import { R_CTL, R_REC } from '../../parasite/restorer_protocol.js';
import type { RestorerBlob } from '../../arch/x86_64/restorer.js';
import { RestoreError } from './errors.js';

/** A half-open address range. */
export interface Range {
  start: bigint;
  end: bigint;
}

/** What the area must hold. */
export interface BootstrapNeeds {
  /** Records of the largest batch. */
  records: number;
  /** Bytes of data of the largest batch (paths, structs). */
  dataBytes: number;
  /** Sigframes (one per thread) and the bytes of each. */
  frames: number;
  frameSize: number;
  frameAlign: number;
  /** Bytes to park the vDSO and its data pages in. */
  parkBytes: number;
}

/** Offsets in the area. */
export interface BootstrapLayout {
  size: number;
  ctl: number;
  records: number;
  recordsCap: number;
  data: number;
  dataCap: number;
  frames: number;
  frameSize: number;
  stackTop: number;
  park: number;
}

const STACK_BYTES = 16384;
/** Room left around the area, so that no stack guard gap or neighbour touches it. */
const MARGIN = 1n << 21n;
/** The lowest address an area may start at (above the usual mmap_min_addr). */
const LOWEST = 1n << 24n;

/** Lays out an area for `needs` after a blob of `blobSize` bytes. Pure. */
export function bootstrapLayout(blobSize: number, page: number, needs: BootstrapNeeds): BootstrapLayout {
  const up = (n: number, to: number) => Math.ceil(n / to) * to;
  const ctl = up(blobSize, 64);
  const records = up(ctl + R_CTL.SIZE, R_REC.SIZE);
  const recordsCap = Math.max(needs.records, 64);
  const data = up(records + recordsCap * R_REC.SIZE, 64);
  const dataCap = up(Math.max(needs.dataBytes, 4096), 64);
  const frameSize = up(needs.frameSize, needs.frameAlign);
  const frames = up(data + dataCap, needs.frameAlign);
  const stackTop = up(frames + frameSize * Math.max(needs.frames, 1) + STACK_BYTES, page);
  const park = stackTop;
  const size = up(park + Math.max(needs.parkBytes, 0), page);
  return { size, ctl, records, recordsCap, data, dataCap, frames, frameSize, stackTop, park };
}

/**
 * The highest gap of `size` bytes (with {@link MARGIN} on both sides) below `ceiling` that none
 * of `taken` touches; throws if there is none.
 */
export function findGap(taken: readonly Range[], size: bigint, ceiling: bigint): bigint {
  const sorted = [...taken].filter((r) => r.start < ceiling).sort((a, b) => (a.start < b.start ? 1 : a.start > b.start ? -1 : 0));
  let top = ceiling;
  for (const r of sorted) {
    const candidate = top - MARGIN - size;
    if (r.end + MARGIN <= candidate && candidate >= LOWEST) return candidate & ~0xfffn;
    if (r.start < top) top = r.start;
  }
  const candidate = top - MARGIN - size;
  if (candidate >= LOWEST) return candidate & ~0xfffn;
  throw new RestoreError('RESTORE_FAILED', `No room for a ${size}-byte bootstrap area among ${taken.length} memory areas`);
}

/** A mapped bootstrap area. */
export class Bootstrap {
  readonly start: bigint;
  readonly layout: BootstrapLayout;
  readonly blob: RestorerBlob;

  private constructor(start: bigint, layout: BootstrapLayout, blob: RestorerBlob) {
    this.start = start;
    this.layout = layout;
    this.blob = blob;
  }

  /**
   * Remote `mmap(addr, size, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0)`
   * in the stopped `task` (its own code is the syscall site), then the blob written into it.
   */
  static map(task: Tracee, opts: { blob: RestorerBlob; layout: BootstrapLayout; taken: readonly Range[]; ceiling: bigint }): Bootstrap {
    const size = BigInt(opts.layout.size);
    const addr = findGap(opts.taken, size, opts.ceiling);
    const got = withRemote(task, (r) =>
      r.mmap(size, { addr, prot: PROT.READ | PROT.WRITE | PROT.EXEC, flags: MAP.PRIVATE | MAP.ANONYMOUS | MAP.FIXED_NOREPLACE }),
    );
    if (got !== addr) throw new RestoreError('RESTORE_FAILED', `The bootstrap area of task ${task.pid} landed at 0x${got.toString(16)}, not 0x${addr.toString(16)}`, { pid: task.pid });
    task.writeMemory(addr, opts.blob.bytes);
    return new Bootstrap(addr, opts.layout, opts.blob);
  }

  get end(): bigint {
    return this.start + BigInt(this.layout.size);
  }

  get size(): number {
    return this.layout.size;
  }

  /** Absolute addresses of the blob's entries and of the area's parts. */
  get batchEntry(): bigint {
    return this.start + BigInt(this.blob.entries.batch);
  }

  /** The ip a batch's trap stop reports (just past the int3). */
  get batchTrapIp(): bigint {
    return this.start + BigInt(this.blob.entries.batchTrap) + 1n;
  }

  get sigreturnEntry(): bigint {
    return this.start + BigInt(this.blob.entries.sigreturn);
  }

  /** `syscall; int3`: the site of remote syscalls. */
  get site(): bigint {
    return this.start + BigInt(this.blob.entries.site);
  }

  get ctl(): bigint {
    return this.start + BigInt(this.layout.ctl);
  }

  get records(): bigint {
    return this.start + BigInt(this.layout.records);
  }

  get data(): bigint {
    return this.start + BigInt(this.layout.data);
  }

  get stackTop(): bigint {
    return this.start + BigInt(this.layout.stackTop);
  }

  get park(): bigint {
    return this.start + BigInt(this.layout.park);
  }

  /** The address of thread frame `i`. */
  frame(i: number): bigint {
    return this.start + BigInt(this.layout.frames + i * this.layout.frameSize);
  }
}
