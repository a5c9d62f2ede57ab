/**
 * ptrace requests. Every one is a synchronous call from the thread that attached (here, the
 * JavaScript main thread): the kernel refuses requests from any other thread with ESRCH, so none of
 * these may ever run on a koffi async worker.
 *
 * The raw system call is used, not glibc's `ptrace()`: PEEK requests store the word through the
 * `data` pointer instead of returning it, so a word of all ones is not mistaken for an error.
 */

import { PTRACE, PTRACE_PEEKSIGINFO_SHARED } from './constants.js';
import { type SysContext } from './error.js';
import { addressOf, fail, keepAlive, lastErrno, type SysArg, sysInt, sysPtr } from './libc.js';
import { allocStruct, getBig, getNum, setField } from './layout.js';
import { decodeSiginfo, IOVEC, PTRACE_PEEKSIGINFO_ARGS, PTRACE_RSEQ_CONFIGURATION, SIGINFO, type Siginfo } from './structs.js';
import { NR } from './syscalls.js';

/** The word PEEK-style requests store into (calls are synchronous, so one is enough). */
const word = new BigUint64Array(1);

const REQUEST_NAMES = new Map<number, string>(Object.entries(PTRACE).map(([name, value]) => [value, `PTRACE_${name}`]));

/** Options of the raw request. */
export interface PtraceOptions extends SysContext {
  addr?: SysArg;
  data?: SysArg;
}

/**
 * `ptrace(request, pid, addr, data)` — any ptrace request, raw; returns the kernel's result.
 * Buffers in `addr`/`data` are passed by address.
 */
export function ptrace(request: number, pid: number, opts?: PtraceOptions): bigint {
  const addr = opts?.addr ?? 0;
  const data = opts?.data ?? 0;
  const r = typeof addr === 'object' || typeof data === 'object' ? sysPtr(NR.ptrace, request, pid, addr, data) : sysInt(NR.ptrace, request, pid, addr, data);
  if (r === -1) throw fail(lastErrno(), 'ptrace', opts, { pid, call: `ptrace(${requestName(request)}, ${pid})` });
  keepAlive(addr, data);
  return BigInt(r);
}

function requestName(request: number): string {
  return REQUEST_NAMES.get(request) ?? String(request);
}

/** A request whose arguments are all integers and whose result is 0 (the fast path). */
function simple(request: number, pid: number, addr: number | bigint, data: number | bigint, opts: SysContext | undefined): void {
  const r = sysInt(NR.ptrace, request, pid, addr, data);
  if (r === -1) throw fail(lastErrno(), 'ptrace', opts, { pid, call: `ptrace(${requestName(request)}, ${pid}, ${addr}, ${data})` });
}

/** PEEK-style requests: the kernel stores one word through `data`. */
function peekWord(request: number, pid: number, addr: number | bigint, opts: SysContext | undefined): bigint {
  const r = sysPtr(NR.ptrace, request, pid, addr, word);
  if (r === -1) throw fail(lastErrno(), 'ptrace', opts, { pid, call: `ptrace(${requestName(request)}, ${pid}, 0x${addr.toString(16)})` });
  return word[0]!;
}

/** Options of PTRACE_SEIZE. */
export interface SeizeOptions extends SysContext {
  /** `PTRACE_O_*` options to set at once. */
  options?: number;
}

/** `ptrace(PTRACE_SEIZE, pid, 0, options)` — attaches to a task without stopping it. */
export function ptraceSeize(pid: number, opts?: SeizeOptions): void {
  simple(PTRACE.SEIZE, pid, 0, opts?.options ?? 0, opts);
}

/** `ptrace(PTRACE_ATTACH, pid, 0, 0)` — attaches to a task and sends it SIGSTOP (prefer seize). */
export function ptraceAttach(pid: number, opts?: SysContext): void {
  simple(PTRACE.ATTACH, pid, 0, 0, opts);
}

/** `ptrace(PTRACE_INTERRUPT, pid, 0, 0)` — asks a seized task to stop; wait for the stop with wait4. */
export function ptraceInterrupt(pid: number, opts?: SysContext): void {
  simple(PTRACE.INTERRUPT, pid, 0, 0, opts);
}

/** Options of the resuming requests. */
export interface ResumeOptions extends SysContext {
  /** A signal to deliver as the task resumes; none when absent. */
  signal?: number;
}

/** `ptrace(PTRACE_CONT, pid, 0, sig)` — resumes a stopped tracee. */
export function ptraceCont(pid: number, opts?: ResumeOptions): void {
  simple(PTRACE.CONT, pid, 0, opts?.signal ?? 0, opts);
}

/** `ptrace(PTRACE_SYSCALL, pid, 0, sig)` — resumes a tracee until the next syscall entry or exit. */
export function ptraceSyscall(pid: number, opts?: ResumeOptions): void {
  simple(PTRACE.SYSCALL, pid, 0, opts?.signal ?? 0, opts);
}

/** `ptrace(PTRACE_SINGLESTEP, pid, 0, sig)` — resumes a tracee for one instruction. */
export function ptraceSingleStep(pid: number, opts?: ResumeOptions): void {
  simple(PTRACE.SINGLESTEP, pid, 0, opts?.signal ?? 0, opts);
}

/** `ptrace(PTRACE_LISTEN, pid, 0, 0)` — lets a seized task in group-stop wait for SIGCONT while still traced. */
export function ptraceListen(pid: number, opts?: SysContext): void {
  simple(PTRACE.LISTEN, pid, 0, 0, opts);
}

/** `ptrace(PTRACE_DETACH, pid, 0, sig)` — detaches from a stopped tracee, which resumes. */
export function ptraceDetach(pid: number, opts?: ResumeOptions): void {
  simple(PTRACE.DETACH, pid, 0, opts?.signal ?? 0, opts);
}

/** `ptrace(PTRACE_SETOPTIONS, pid, 0, options)` — sets `PTRACE_O_*` options on a stopped tracee. */
export function ptraceSetOptions(pid: number, options: number, opts?: SysContext): void {
  simple(PTRACE.SETOPTIONS, pid, 0, options, opts);
}

/** `ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg)` — the message of the last ptrace event (a new tid, an exit status, ...). */
export function ptraceGetEventMsg(pid: number, opts?: SysContext): bigint {
  return peekWord(PTRACE.GETEVENTMSG, pid, 0, opts);
}

/** `ptrace(PTRACE_PEEKDATA, pid, addr, &word)` — reads one 8-byte word of a tracee's memory. */
export function ptracePeekData(pid: number, addr: bigint, opts?: SysContext): bigint {
  return peekWord(PTRACE.PEEKDATA, pid, addr, opts);
}

/** Options of POKEDATA. */
export interface PokeOptions extends SysContext {
  /** The 8-byte word to write (taken modulo 2^64). */
  word: bigint;
}

/** `ptrace(PTRACE_POKEDATA, pid, addr, word)` — writes one 8-byte word of a tracee's memory, read-only code included. */
export function ptracePokeData(pid: number, addr: bigint, opts: PokeOptions): void {
  simple(PTRACE.POKEDATA, pid, addr, BigInt.asIntN(64, opts.word), opts);
}

/** `ptrace(PTRACE_GETSIGMASK, pid, 8, &mask)` — a tracee's blocked-signal mask (bit n-1 is signal n). */
export function ptraceGetSigmask(pid: number, opts?: SysContext): bigint {
  return peekWord(PTRACE.GETSIGMASK, pid, 8, opts);
}

/** `ptrace(PTRACE_SETSIGMASK, pid, 8, &mask)` — sets a tracee's blocked-signal mask. */
export function ptraceSetSigmask(pid: number, mask: bigint, opts?: SysContext): void {
  const cell = BigUint64Array.of(BigInt.asUintN(64, mask));
  ptrace(PTRACE.SETSIGMASK, pid, { ...opts, addr: 8, data: cell });
}

/** `ptrace(PTRACE_GETSIGINFO, pid, 0, &info)` — the siginfo of the signal that stopped a tracee. */
export function ptraceGetSiginfo(pid: number, opts?: SysContext): Siginfo {
  const info = allocStruct(SIGINFO);
  ptrace(PTRACE.GETSIGINFO, pid, { ...opts, data: info });
  return decodeSiginfo(info);
}

/** `ptrace(PTRACE_SETSIGINFO, pid, 0, &info)` — replaces that siginfo (128 raw bytes). */
export function ptraceSetSiginfo(pid: number, raw: Uint8Array, opts?: SysContext): void {
  if (raw.byteLength < SIGINFO.size) throw new RangeError(`A siginfo is ${SIGINFO.size} bytes, got ${raw.byteLength}`);
  ptrace(PTRACE.SETSIGINFO, pid, { ...opts, data: raw });
}

/** Options of PEEKSIGINFO. */
export interface PeekSiginfoOptions extends SysContext {
  /** Index of the first pending signal to read. */
  offset?: number;
  /** How many to read at most; 32 when absent. */
  count?: number;
  /** Read the process-wide queue instead of the thread's. */
  shared?: boolean;
}

/** `ptrace(PTRACE_PEEKSIGINFO, pid, &args, buf)` — pending signals of a tracee, without dequeuing them. */
export function ptracePeekSiginfo(pid: number, opts?: PeekSiginfoOptions): Siginfo[] {
  const count = opts?.count ?? 32;
  const args = allocStruct(PTRACE_PEEKSIGINFO_ARGS);
  setField(args, PTRACE_PEEKSIGINFO_ARGS, 'off', opts?.offset ?? 0);
  setField(args, PTRACE_PEEKSIGINFO_ARGS, 'flags', opts?.shared ? PTRACE_PEEKSIGINFO_SHARED : 0);
  setField(args, PTRACE_PEEKSIGINFO_ARGS, 'nr', count);
  const out = allocStruct(SIGINFO, count);
  const n = Number(ptrace(PTRACE.PEEKSIGINFO, pid, { ...opts, addr: args, data: out }));
  return Array.from({ length: n }, (_, i) => decodeSiginfo(out, i * SIGINFO.size));
}

const regsetIov = allocStruct(IOVEC);

/** Options of GETREGSET. */
export interface GetRegsetOptions extends SysContext {
  /** Where to put the registers (reuse one across calls); a new buffer of `size` bytes when absent. */
  buffer?: Uint8Array;
  /** Size of the new buffer; 4096 when absent (enough for `NT_PRSTATUS`; the xstate needs more). */
  size?: number;
}

/**
 * `ptrace(PTRACE_GETREGSET, pid, nt, &iov)` — reads a register set (`NT.PRSTATUS`, `NT.PRFPREG`,
 * `NT.X86_XSTATE`, ...); returns the part of the buffer the kernel filled. Its layout is `arch/`'s.
 */
export function ptraceGetRegset(pid: number, noteType: number, opts?: GetRegsetOptions): Uint8Array {
  const buf = opts?.buffer ?? new Uint8Array(opts?.size ?? 4096);
  setField(regsetIov, IOVEC, 'iov_base', addressOf(buf));
  setField(regsetIov, IOVEC, 'iov_len', buf.byteLength);
  ptrace(PTRACE.GETREGSET, pid, { ...opts, addr: noteType, data: regsetIov });
  keepAlive(buf);
  return buf.subarray(0, getNum(regsetIov, IOVEC, 'iov_len'));
}

/** Options of SETREGSET. */
export interface SetRegsetOptions extends SysContext {
  /** The register set's bytes, in the layout GETREGSET returned. */
  data: Uint8Array;
}

/** `ptrace(PTRACE_SETREGSET, pid, nt, &iov)` — writes a register set. */
export function ptraceSetRegset(pid: number, noteType: number, opts: SetRegsetOptions): void {
  setField(regsetIov, IOVEC, 'iov_base', addressOf(opts.data));
  setField(regsetIov, IOVEC, 'iov_len', opts.data.byteLength);
  ptrace(PTRACE.SETREGSET, pid, { ...opts, addr: noteType, data: regsetIov });
  keepAlive(opts.data);
}

/**
 * `ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index, buf)` — the classic BPF program of a tracee's
 * seccomp filter `index` (0 is the most recently installed), 8 bytes per instruction.
 * Needs CAP_SYS_ADMIN; fails with ENOENT past the last filter.
 */
export function ptraceSeccompGetFilter(pid: number, index: number, opts?: SysContext): Buffer {
  const count = Number(ptrace(PTRACE.SECCOMP_GET_FILTER, pid, { ...opts, addr: index, data: 0 }));
  const prog = Buffer.alloc(count * 8);
  const got = Number(ptrace(PTRACE.SECCOMP_GET_FILTER, pid, { ...opts, addr: index, data: prog }));
  return prog.subarray(0, got * 8);
}

/** A tracee's rseq registration. */
export interface RseqConfiguration {
  /** Address of its `struct rseq` (0: none registered). */
  rseqAbiPointer: bigint;
  rseqAbiSize: number;
  signature: number;
  flags: number;
}

/** `ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, sizeof conf, &conf)` — how a tracee registered rseq. */
export function ptraceGetRseqConfiguration(pid: number, opts?: SysContext): RseqConfiguration {
  const conf = allocStruct(PTRACE_RSEQ_CONFIGURATION);
  ptrace(PTRACE.GET_RSEQ_CONFIGURATION, pid, { ...opts, addr: conf.length, data: conf });
  const L = PTRACE_RSEQ_CONFIGURATION;
  return {
    rseqAbiPointer: getBig(conf, L, 'rseq_abi_pointer'),
    rseqAbiSize: getNum(conf, L, 'rseq_abi_size'),
    signature: getNum(conf, L, 'signature'),
    flags: getNum(conf, L, 'flags'),
  };
}
