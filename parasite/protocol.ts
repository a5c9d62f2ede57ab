/**
 * The parasite's binary contract (parasite/protocol.md): command ids and the fixed-size,
 * little-endian blocks the driver and the blob exchange, the same on every architecture.
 * Each `parasite/<arch>/*.S` defines the same numbers as `.equ P_*`; the blob test compares them
 * with {@link PROTOCOL_CONSTANTS}.
 *
 * Only 64-bit ABIs are supported: the blob lets the kernel write `struct itimerval`,
 * `struct itimerspec`, `stack_t`, `struct rlimit64` and the kernel's `struct sigaction` straight
 * into the results, and those are the layouts below on x86_64 and aarch64 alike.
 */

/** Bumped on any change of a layout or a meaning below. */
export const PROTOCOL_VERSION = 1;
/** `"CTSP"` read as a little-endian u32: the first word of every control block. */
export const PARASITE_MAGIC = 0x50535443;
/** The least parasite stack the driver must give (the blob's frame of locals is ~11.3 KiB). */
export const PARASITE_STACK_MIN = 16384;

/** The control block: one per parasite run (the daemon's, or one per thread). */
export const CTL = Object.freeze({
  MAGIC: 0, // u32, driver
  VERSION: 4, // u32, driver
  SIGRETURN_SP: 8, // u64, driver: the stack pointer rt_sigreturn needs (x86_64: frame + 8)
  ARGS: 16, // u64, driver: task address of the args/results area
  ARGS_SIZE: 24, // u64, driver
  STATE: 32, // i32, parasite: PARASITE_STATE
  ERROR: 36, // i32, parasite: -errno that ended the run, 0 after FINI / a thread command
  SOCK_FD: 40, // i32, parasite: the control socket's fd in the task, -1 when none
  ADDR_LEN: 44, // u32, driver: bytes of ADDR used
  PIPE_FDS: 48, // i32[2], parasite: the MEMORY pipe it holds (write end, read end), -1 when none
  MSG: 64, // 64 bytes: thread mode: the command in, its reply out
  ADDR: 128, // struct sockaddr_un (AF_UNIX, abstract name), at most ADDR_MAX bytes
  SIZE: 256,
});
/** The largest `sockaddr_un` the control block holds. */
export const ADDR_MAX = 110;

/** What `CTL.STATE` says. */
export const PARASITE_STATE = Object.freeze({ NEW: 0, STARTED: 1, CONNECTED: 2, EXITING: 3 });

/** A command and its replies: 64 bytes. */
export const MSG = Object.freeze({
  CMD: 0, // u32
  STATUS: 4, // i32: reply: 0 or -errno
  SEQ: 8, // u32: echoed
  FLAGS: 12, // u32: MSG_F_* (reply), per-command flags (request)
  NR: 16, // u32: entries (request), entries done (reply)
  INDEX: 20, // u32: reply: the entry a failure is about, 0xffffffff for none
  A0: 24, // u64 a0..a4: per command
  A1: 32,
  A2: 40,
  A3: 48,
  A4: 56,
  SIZE: 64,
});
/** Reply flag: more replies to this command follow. */
export const MSG_F_MORE = 1;
/** `MSG.INDEX` of a reply that is about no entry. */
export const NO_INDEX = 0xffffffff;

/** Command ids. */
export const CMD = Object.freeze({ PING: 1, FINI: 2, SIGACTIONS: 3, MISC: 4, FDS: 5, MEMORY: 6 });
export type CommandName = keyof typeof CMD;

/** SIGACTIONS results: 64 entries (signal n at (n - 1) * 32) of the kernel's struct sigaction. */
export const SIGACTION = Object.freeze({ HANDLER: 0, FLAGS: 8, RESTORER: 16, MASK: 24, SIZE: 32, COUNT: 64, TOTAL: 2048 });

/** FDS: fds per reply (the kernel's SCM_MAX_FD is 253). */
export const FDS_BATCH = 253;

/** MEMORY: one range is {u64 addr, u64 len}, both multiples of the page size. */
export const MEM_RANGE_SIZE = 16;
/** MEMORY: iovecs per vmsplice batch. */
export const MEM_IOV_MAX = 512;

/** MISC request flag: per-thread items only, no timers (thread mode). */
export const MISC_F_THREAD = 1;

/** The MISC block at the start of the args area (512 bytes), then timer entries. */
export const MISC = Object.freeze({
  VALID: 0, // u64: bit MISC_ITEM.x set when item x was read
  PID: 8, // i32
  TID: 12, // i32
  ITIMER_REAL: 16, // i64[4]: interval sec, usec, value sec, usec
  ITIMER_VIRTUAL: 48,
  ITIMER_PROF: 80,
  ALTSTACK: 112, // stack_t: u64 sp, i32 flags, pad, u64 size
  UMASK: 136, // u32
  PERSONALITY: 140, // u32
  TID_ADDRESS: 144, // u64
  CHILD_SUBREAPER: 152, // i32
  DUMPABLE: 156, // i32
  NO_NEW_PRIVS: 160, // i32
  THP_DISABLE: 164, // i32
  PDEATHSIG: 168, // i32
  KEEPCAPS: 172, // i32
  TIMERSLACK: 176, // u64
  SECUREBITS: 184, // i32
  FIRST_ERROR: 188, // i32: -errno of the first item that failed, 0
  NAME: 192, // char[16] (PR_GET_NAME)
  RLIMITS: 208, // 16 x {u64 cur, u64 max}
  FIRST_ERROR_ITEM: 464, // u32: its MISC_ITEM bit, 0xffffffff
  SIZE: 512,
});

/** MISC item bits (`MISC.VALID`); RLIMIT0 + r for resource r. */
export const MISC_ITEM = Object.freeze({
  PID: 0,
  TID: 1,
  ITIMER_REAL: 2,
  ITIMER_VIRTUAL: 3,
  ITIMER_PROF: 4,
  ALTSTACK: 5,
  UMASK: 6,
  PERSONALITY: 7,
  TID_ADDRESS: 8,
  CHILD_SUBREAPER: 9,
  DUMPABLE: 10,
  NO_NEW_PRIVS: 11,
  THP_DISABLE: 12,
  PDEATHSIG: 13,
  KEEPCAPS: 14,
  TIMERSLACK: 15,
  SECUREBITS: 16,
  NAME: 17,
  RLIMIT0: 18,
});
/** Items read in thread mode (MISC_F_THREAD). */
export const MISC_THREAD_ITEMS: readonly number[] = Object.freeze([
  MISC_ITEM.PID, MISC_ITEM.TID, MISC_ITEM.ALTSTACK, MISC_ITEM.PERSONALITY, MISC_ITEM.TID_ADDRESS,
  MISC_ITEM.NO_NEW_PRIVS, MISC_ITEM.PDEATHSIG, MISC_ITEM.KEEPCAPS, MISC_ITEM.TIMERSLACK, MISC_ITEM.SECUREBITS, MISC_ITEM.NAME,
]);
/** Resources read with prlimit64 (RLIMIT_CPU .. RLIMIT_RTTIME). */
export const RLIMIT_COUNT = 16;

/** One POSIX timer entry after the MISC block: the driver writes ID, the parasite the rest. */
export const TIMER = Object.freeze({ ID: 0, STATUS: 4, OVERRUN: 8, SPEC: 16, SIZE: 48 });

/** Every number above under the `.equ` name the assembly sources use. */
export const PROTOCOL_CONSTANTS: Readonly<Record<string, number>> = Object.freeze({
  P_MAGIC: PARASITE_MAGIC,
  P_VERSION: PROTOCOL_VERSION,
  P_STACK_MIN: PARASITE_STACK_MIN,
  ...prefixed('P_CTL_', CTL),
  P_ADDR_MAX: ADDR_MAX,
  ...prefixed('P_STATE_', PARASITE_STATE),
  ...prefixed('P_MSG_', MSG),
  P_MSG_F_MORE: MSG_F_MORE,
  ...prefixed('P_CMD_', CMD),
  P_SIGACTION_SIZE: SIGACTION.SIZE,
  P_SIGACTIONS_SIZE: SIGACTION.TOTAL,
  P_FDS_BATCH: FDS_BATCH,
  P_MEM_RANGE_SIZE: MEM_RANGE_SIZE,
  P_MEM_IOV_MAX: MEM_IOV_MAX,
  P_MISC_F_THREAD: MISC_F_THREAD,
  ...prefixed('P_MISC_', MISC),
  ...prefixed('P_MISC_ITEM_', MISC_ITEM),
  ...prefixed('P_TIMER_', TIMER),
});

function prefixed(prefix: string, table: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(table)) out[prefix + k] = v;
  return out;
}

function view(buf: Uint8Array, offset = 0, length?: number): DataView {
  return new DataView(buf.buffer, buf.byteOffset + offset, length ?? buf.byteLength - offset);
}

/** A command or reply message, decoded. */
export interface Message {
  cmd: number;
  status: number;
  seq: number;
  flags: number;
  nr: number;
  index: number;
  /** a0..a4. */
  a: readonly [bigint, bigint, bigint, bigint, bigint];
}

/** Encodes a command (64 bytes); absent fields are zero. */
export function encodeMessage(m: Partial<Message> & { cmd: number }, out: Uint8Array = new Uint8Array(MSG.SIZE)): Uint8Array {
  const v = view(out, 0, MSG.SIZE);
  v.setUint32(MSG.CMD, m.cmd, true);
  v.setInt32(MSG.STATUS, m.status ?? 0, true);
  v.setUint32(MSG.SEQ, m.seq ?? 0, true);
  v.setUint32(MSG.FLAGS, m.flags ?? 0, true);
  v.setUint32(MSG.NR, m.nr ?? 0, true);
  v.setUint32(MSG.INDEX, m.index ?? 0, true);
  for (let i = 0; i < 5; i++) v.setBigUint64(MSG.A0 + 8 * i, BigInt.asUintN(64, m.a?.[i] ?? 0n), true);
  return out;
}

/** Decodes a 64-byte message. */
export function decodeMessage(buf: Uint8Array): Message {
  if (buf.byteLength < MSG.SIZE) throw new RangeError(`A parasite message is ${MSG.SIZE} bytes, got ${buf.byteLength}`);
  const v = view(buf, 0, MSG.SIZE);
  const a = [0, 1, 2, 3, 4].map((i) => v.getBigUint64(MSG.A0 + 8 * i, true)) as unknown as Message['a'];
  return {
    cmd: v.getUint32(MSG.CMD, true),
    status: v.getInt32(MSG.STATUS, true),
    seq: v.getUint32(MSG.SEQ, true),
    flags: v.getUint32(MSG.FLAGS, true),
    nr: v.getUint32(MSG.NR, true),
    index: v.getUint32(MSG.INDEX, true),
    a,
  };
}

/** What the driver puts in a control block. */
export interface ControlBlockInit {
  /** The stack pointer for rt_sigreturn (the arch's sigframe builder says which). */
  sigreturnSp: bigint;
  /** Task address and size of the args/results area. */
  args: bigint;
  argsSize: bigint | number;
  /** Daemon mode: the encoded `sockaddr_un` of the driver's listening socket. */
  addr?: Uint8Array;
  /** Thread mode: the command to run. */
  command?: Partial<Message> & { cmd: number };
}

/** Writes a control block (CTL.SIZE bytes at `out`), zeroing what is not given. */
export function writeControlBlock(out: Uint8Array, init: ControlBlockInit): void {
  if (out.byteLength < CTL.SIZE) throw new RangeError(`A control block is ${CTL.SIZE} bytes, got ${out.byteLength}`);
  out.fill(0, 0, CTL.SIZE);
  const v = view(out, 0, CTL.SIZE);
  v.setUint32(CTL.MAGIC, PARASITE_MAGIC, true);
  v.setUint32(CTL.VERSION, PROTOCOL_VERSION, true);
  v.setBigUint64(CTL.SIGRETURN_SP, init.sigreturnSp, true);
  v.setBigUint64(CTL.ARGS, init.args, true);
  v.setBigUint64(CTL.ARGS_SIZE, BigInt(init.argsSize), true);
  v.setInt32(CTL.SOCK_FD, -1, true);
  v.setInt32(CTL.PIPE_FDS, -1, true);
  v.setInt32(CTL.PIPE_FDS + 4, -1, true);
  if (init.addr !== undefined) {
    if (init.addr.byteLength > ADDR_MAX) throw new RangeError(`The control socket address is ${init.addr.byteLength} bytes, at most ${ADDR_MAX}`);
    out.set(init.addr, CTL.ADDR);
    v.setUint32(CTL.ADDR_LEN, init.addr.byteLength, true);
  }
  if (init.command !== undefined) encodeMessage(init.command, out.subarray(CTL.MSG, CTL.MSG + MSG.SIZE));
}

/** What the parasite reports in a control block. */
export interface ControlState {
  state: number;
  error: number;
  sockFd: number;
  /** The MEMORY pipe's ends the parasite holds, -1 when none. */
  pipeFds: [number, number];
  /** Thread mode: the command's reply. */
  reply: Message;
}

/** Reads the parasite's side of a control block. */
export function readControlBlock(buf: Uint8Array): ControlState {
  const v = view(buf, 0, CTL.SIZE);
  return {
    state: v.getInt32(CTL.STATE, true),
    error: v.getInt32(CTL.ERROR, true),
    sockFd: v.getInt32(CTL.SOCK_FD, true),
    pipeFds: [v.getInt32(CTL.PIPE_FDS, true), v.getInt32(CTL.PIPE_FDS + 4, true)],
    reply: decodeMessage(buf.subarray(CTL.MSG, CTL.MSG + MSG.SIZE)),
  };
}

/** One signal's action, as rt_sigaction reports it. */
export interface SigactionEntry {
  signal: number;
  handler: bigint;
  flags: bigint;
  restorer: bigint;
  mask: bigint;
}

/** Decodes SIGACTIONS results (signals 1..64; SIGKILL and SIGSTOP come back all zero). */
export function decodeSigactions(buf: Uint8Array): SigactionEntry[] {
  const v = view(buf, 0, SIGACTION.TOTAL);
  const out: SigactionEntry[] = [];
  for (let sig = 1; sig <= SIGACTION.COUNT; sig++) {
    const at = (sig - 1) * SIGACTION.SIZE;
    out.push({
      signal: sig,
      handler: v.getBigUint64(at + SIGACTION.HANDLER, true),
      flags: v.getBigUint64(at + SIGACTION.FLAGS, true),
      restorer: v.getBigUint64(at + SIGACTION.RESTORER, true),
      mask: v.getBigUint64(at + SIGACTION.MASK, true),
    });
  }
  return out;
}

/** `{tv_sec, tv_usec}` or `{tv_sec, tv_nsec}` pairs of an interval timer. */
export interface TimerValue {
  intervalSec: bigint;
  intervalFrac: bigint;
  valueSec: bigint;
  valueFrac: bigint;
}

/** The MISC block, decoded; a field is undefined when its item was not read. */
export interface MiscResult {
  valid: bigint;
  firstError: number;
  firstErrorItem: number;
  pid?: number;
  tid?: number;
  itimers: { real?: TimerValue; virtual?: TimerValue; prof?: TimerValue };
  altstack?: { sp: bigint; flags: number; size: bigint };
  umask?: number;
  personality?: number;
  tidAddress?: bigint;
  childSubreaper?: number;
  dumpable?: number;
  noNewPrivs?: number;
  thpDisable?: number;
  pdeathsig?: number;
  keepcaps?: number;
  timerslackNs?: bigint;
  securebits?: number;
  name?: string;
  /** Per resource: {cur, max}, or undefined when that resource was not read. */
  rlimits: ({ cur: bigint; max: bigint } | undefined)[];
}

function timerValue(v: DataView, at: number): TimerValue {
  return { intervalSec: v.getBigInt64(at, true), intervalFrac: v.getBigInt64(at + 8, true), valueSec: v.getBigInt64(at + 16, true), valueFrac: v.getBigInt64(at + 24, true) };
}

/** Decodes the MISC block (the first MISC.SIZE bytes of the args area). */
export function decodeMisc(buf: Uint8Array): MiscResult {
  const v = view(buf, 0, MISC.SIZE);
  const valid = v.getBigUint64(MISC.VALID, true);
  const has = (bit: number): boolean => ((valid >> BigInt(bit)) & 1n) === 1n;
  const i32 = (bit: number, at: number): number | undefined => (has(bit) ? v.getInt32(at, true) : undefined);
  const name = buf.subarray(MISC.NAME, MISC.NAME + 16);
  const nul = name.indexOf(0);
  const out: MiscResult = {
    valid,
    firstError: v.getInt32(MISC.FIRST_ERROR, true),
    firstErrorItem: v.getUint32(MISC.FIRST_ERROR_ITEM, true),
    itimers: {},
    rlimits: [],
  };
  const set = <K extends keyof MiscResult>(key: K, value: MiscResult[K] | undefined): void => {
    if (value !== undefined) out[key] = value;
  };
  set('pid', i32(MISC_ITEM.PID, MISC.PID));
  set('tid', i32(MISC_ITEM.TID, MISC.TID));
  if (has(MISC_ITEM.ITIMER_REAL)) out.itimers.real = timerValue(v, MISC.ITIMER_REAL);
  if (has(MISC_ITEM.ITIMER_VIRTUAL)) out.itimers.virtual = timerValue(v, MISC.ITIMER_VIRTUAL);
  if (has(MISC_ITEM.ITIMER_PROF)) out.itimers.prof = timerValue(v, MISC.ITIMER_PROF);
  if (has(MISC_ITEM.ALTSTACK)) {
    out.altstack = { sp: v.getBigUint64(MISC.ALTSTACK, true), flags: v.getInt32(MISC.ALTSTACK + 8, true), size: v.getBigUint64(MISC.ALTSTACK + 16, true) };
  }
  if (has(MISC_ITEM.UMASK)) out.umask = v.getUint32(MISC.UMASK, true);
  if (has(MISC_ITEM.PERSONALITY)) out.personality = v.getUint32(MISC.PERSONALITY, true);
  if (has(MISC_ITEM.TID_ADDRESS)) out.tidAddress = v.getBigUint64(MISC.TID_ADDRESS, true);
  set('childSubreaper', i32(MISC_ITEM.CHILD_SUBREAPER, MISC.CHILD_SUBREAPER));
  set('dumpable', i32(MISC_ITEM.DUMPABLE, MISC.DUMPABLE));
  set('noNewPrivs', i32(MISC_ITEM.NO_NEW_PRIVS, MISC.NO_NEW_PRIVS));
  set('thpDisable', i32(MISC_ITEM.THP_DISABLE, MISC.THP_DISABLE));
  set('pdeathsig', i32(MISC_ITEM.PDEATHSIG, MISC.PDEATHSIG));
  set('keepcaps', i32(MISC_ITEM.KEEPCAPS, MISC.KEEPCAPS));
  if (has(MISC_ITEM.TIMERSLACK)) out.timerslackNs = v.getBigUint64(MISC.TIMERSLACK, true);
  set('securebits', i32(MISC_ITEM.SECUREBITS, MISC.SECUREBITS));
  if (has(MISC_ITEM.NAME)) out.name = Buffer.from(nul < 0 ? name : name.subarray(0, nul)).toString('latin1');
  for (let r = 0; r < RLIMIT_COUNT; r++) {
    const at = MISC.RLIMITS + 16 * r;
    out.rlimits.push(has(MISC_ITEM.RLIMIT0 + r) ? { cur: v.getBigUint64(at, true), max: v.getBigUint64(at + 8, true) } : undefined);
  }
  return out;
}

/** Writes the timer ids the driver asks about after the MISC block; returns the bytes used. */
export function encodeTimerIds(out: Uint8Array, ids: readonly number[]): number {
  const need = MISC.SIZE + ids.length * TIMER.SIZE;
  if (out.byteLength < need) throw new RangeError(`${ids.length} timers need ${need} bytes of args, got ${out.byteLength}`);
  out.fill(0, MISC.SIZE, need);
  const v = view(out);
  ids.forEach((id, i) => v.setInt32(MISC.SIZE + i * TIMER.SIZE + TIMER.ID, id, true));
  return need;
}

/** One POSIX timer as the parasite read it. */
export interface TimerResult {
  id: number;
  /** 0, or -errno of timer_gettime/timer_getoverrun. */
  status: number;
  overrun: number;
  spec: TimerValue;
}

/** Decodes `count` timer entries after the MISC block. */
export function decodeTimers(buf: Uint8Array, count: number): TimerResult[] {
  const v = view(buf);
  const out: TimerResult[] = [];
  for (let i = 0; i < count; i++) {
    const at = MISC.SIZE + i * TIMER.SIZE;
    out.push({ id: v.getInt32(at + TIMER.ID, true), status: v.getInt32(at + TIMER.STATUS, true), overrun: v.getInt32(at + TIMER.OVERRUN, true), spec: timerValue(v, at + TIMER.SPEC) });
  }
  return out;
}

/** Writes MEMORY ranges into the args area; returns the bytes used. */
export function encodeRanges(out: Uint8Array, ranges: readonly { addr: bigint; len: bigint }[]): number {
  const need = ranges.length * MEM_RANGE_SIZE;
  if (out.byteLength < need) throw new RangeError(`${ranges.length} ranges need ${need} bytes of args, got ${out.byteLength}`);
  const v = view(out);
  ranges.forEach((r, i) => {
    v.setBigUint64(i * MEM_RANGE_SIZE, r.addr, true);
    v.setBigUint64(i * MEM_RANGE_SIZE + 8, r.len, true);
  });
  return need;
}

/** Writes FDS' list of fd numbers into the args area; returns the bytes used. */
export function encodeFdList(out: Uint8Array, fds: readonly number[]): number {
  const need = fds.length * 4;
  if (out.byteLength < need) throw new RangeError(`${fds.length} fds need ${need} bytes of args, got ${out.byteLength}`);
  const v = view(out);
  fds.forEach((fd, i) => v.setUint32(i * 4, fd, true));
  return need;
}
