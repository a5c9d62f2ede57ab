/**
 * A tracee's memory: `process_vm_readv`/`process_vm_writev` first (one syscall, no stop needed),
 * `/proc/PID/mem` when they cannot reach the bytes (read-only code to patch, `PROT_NONE` pages:
 * the kernel accesses /proc/PID/mem with FOLL_FORCE for a tracer).
 */

import { close, isSysError, O, open, pread, processVmReadv, processVmWritev, pwrite } from '../sys/index.js';
import { taskName } from './errors.js';

/** The memory of one traced process, seen from one of its threads. */
export class TraceeMemory {
  readonly tid: number;
  readonly pid: number;
  #memFd = -1;

  constructor(tid: number, pid: number) {
    this.tid = tid;
    this.pid = pid;
  }

  /**
   * `process_vm_readv(pid, ...)` — `length` bytes at `addr`; when that copies less (a hole, a
   * `PROT_NONE` page) or fails with EFAULT, `pread(/proc/PID/mem)`. Throws a SysError when even
   * that cannot read them all (EIO: unmapped).
   */
  read(addr: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    if (length === 0) return out;
    let got = 0;
    try {
      got = processVmReadv(this.pid, { local: [out], remote: [{ addr, len: length }] }, { what: `read the memory of ${taskName(this.tid, this.pid)}` });
    } catch (err) {
      if (!isSysError(err, 'EFAULT') && !isSysError(err, 'EIO')) throw err;
    }
    if (got < length) this.#procMem('read', out.subarray(got), addr + BigInt(got));
    return out;
  }

  /**
   * `process_vm_writev(pid, ...)` — writes `bytes` at `addr`; read-only mappings (code) refuse it
   * with EFAULT, so the rest goes through `pwrite(/proc/PID/mem)`.
   */
  write(addr: bigint, bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    let done = 0;
    try {
      done = processVmWritev(this.pid, { local: [bytes], remote: [{ addr, len: bytes.byteLength }] }, { what: `write the memory of ${taskName(this.tid, this.pid)}` });
    } catch (err) {
      if (!isSysError(err, 'EFAULT') && !isSysError(err, 'EIO')) throw err;
    }
    if (done < bytes.byteLength) this.#procMem('write', bytes.subarray(done), addr + BigInt(done));
  }

  /** `pread`/`pwrite` on /proc/PID/mem (opened once, kept until {@link close}), all or a SysError. */
  #procMem(dir: 'read' | 'write', buf: Uint8Array, addr: bigint): void {
    const what = `${dir} the memory of ${taskName(this.tid, this.pid)} through /proc/${this.tid}/mem`;
    if (this.#memFd < 0) this.#memFd = open(`/proc/${this.tid}/mem`, { flags: O.RDWR | O.CLOEXEC, what });
    let off = 0;
    while (off < buf.byteLength) {
      const part = buf.subarray(off);
      const n = dir === 'read' ? pread(this.#memFd, part, { offset: addr + BigInt(off), what }) : pwrite(this.#memFd, part, { offset: addr + BigInt(off), what });
      if (n <= 0) throw new RangeError(`Short ${dir} of /proc/${this.tid}/mem at 0x${(addr + BigInt(off)).toString(16)}`);
      off += n;
    }
  }

  /** Closes /proc/PID/mem if it was opened. */
  close(): void {
    if (this.#memFd >= 0) close(this.#memFd);
    this.#memFd = -1;
  }
}
