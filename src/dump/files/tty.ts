/**
 * Unix98 pseudo-terminals, as CRIU's tty.c dumps them: a tty_file_entry per open file (pointing
 * at a reg_file_entry of the path it was opened through: /dev/ptmx or /dev/pts/N), and once per
 * terminal a tty_info_entry in tty-info.img: type PTY with its index, the pty flags (locked,
 * exclusive, packet mode), session and foreground group, termios, locked termios and window size.
 * tty_info ids are CRIU's: index * 2, plus 1 for the master side.
 *
 * A slave whose master is not in the tree is the terminal of the shell the tree was started from:
 * allowed with `--shell-job` (one such terminal at most), refused with FD_SHELL_JOB otherwise,
 * once every task's fds are known (FdDumpContext.checks). A hung-up terminal (its other end
 * closed; every ioctl says EIO) gets only what is known without ioctls and pairs with nothing.
 *
 * Not done: bytes queued in a pair whose two ends are both in the tree (tty-data.img), and other
 * terminals (consoles, virtual terminals, serial lines, /dev/tty), which are refused.
 */
import type { TermiosEntry, TtyInfoEntry } from '../../images/generated/types.js';
import { TtyType } from '../../images/generated/types.js';
import { readStat } from '../../proc/index.js';
import { KERNEL_NCCS, isSysError, ttyGetInt, ttyGetTermios, ttyGetWinsize, type KernelTermios } from '../../sys/index.js';
import { FdDumpError, unsupportedKind, type FdDumpContext, type FdFacts, type FdKindHandler } from './kind.js';
import { addPathFile } from './path_file.js';

const S_IFMT = 0o170000n;
const S_IFCHR = 0o020000n;
/** CRIU's limit on pty indexes (MAX_PTY_INDEX). */
const MAX_PTY_INDEX = 1000;
/** termios_entry.c_cc holds CRIU's TERMIOS_NCC (19) words. */
const TERMIOS_NCC = 19;
/** glibc's NCCS: CRIU copies the 32 bytes of glibc's c_cc into those words, 4 to a word. */
const GLIBC_NCCS = 32;

type PtySide = 'master' | 'slave';

/** The side of a Unix98 pty a character device is, from its rdev; undefined for other devices. */
export function ptySide(stat: { mode: bigint; rdev: bigint }): PtySide | undefined {
  if ((stat.mode & S_IFMT) !== S_IFCHR) return undefined;
  const major = Number(((stat.rdev >> 8n) & 0xfffn) | ((stat.rdev >> 32n) & ~0xfffn));
  const minor = Number((stat.rdev & 0xffn) | ((stat.rdev >> 12n) & ~0xffn));
  if ((major === 5 && minor === 2) || (major >= 128 && major < 136)) return 'master'; // /dev/ptmx
  if (major >= 136 && major < 144) return 'slave';
  return undefined;
}

/** The pty indexes of each side met in one dump, and the first fd of each slave. */
interface PtyState {
  masters: Set<number>;
  slaves: Map<number, { pid: number; fd: number; link: string }>;
  infos: Set<number>;
  /** tty_info ids of terminals that are hung up */
  hungUp: Set<number>;
}

const states = new WeakMap<FdDumpContext, PtyState>();

export const TTY_KIND: FdKindHandler = {
  kind: 'TTY',
  matches: (_link, stat) => ptySide(stat) !== undefined,
  dump(f, ctx) {
    const side = ptySide(f.stat)!;
    const index = side === 'master' ? ttyGetInt(f.local, 'TIOCGPTN', { what: `read the pty index of fd ${f.fd} of task ${f.pid}` }) : slaveIndex(f);
    if (index > MAX_PTY_INDEX) throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `pty index ${index} is over ${MAX_PTY_INDEX}`);
    const ttyInfoId = (index << 1) + (side === 'master' ? 1 : 0);
    const state = stateOf(ctx);
    const regfId = addPathFile(f, ctx, { ghosts: false });
    const id = ctx.files.add('TTY', (fid) => ({ tty: { id: fid, tty_info_id: ttyInfoId, flags: f.flags, fown: f.fown, regf_id: regfId } }));
    if (!state.infos.has(ttyInfoId)) {
      state.infos.add(ttyInfoId);
      const info = ttyInfo(f, ttyInfoId, side, index);
      const infos = ctx.extra.get('ttyInfo') ?? [];
      infos.push(info);
      ctx.extra.set('ttyInfo', infos);
      // A hung-up terminal (its other end closed) pairs with nothing, as in CRIU.
      if (!info.termios) state.hungUp.add(ttyInfoId);
    }
    if (state.hungUp.has(ttyInfoId)) return id;
    if (side === 'master') state.masters.add(index);
    else if (!state.slaves.has(index)) state.slaves.set(index, { pid: f.pid, fd: f.fd, link: f.link });
    return id;
  },
};

/** Consoles, virtual terminals, serial lines and /dev/tty: not dumped. */
export const OTHER_TTY_KIND = unsupportedKind(
  'TTY',
  (link, stat) => (stat.mode & S_IFMT) === S_IFCHR && /^\/dev\/(tty|console)/.test(link),
  (link) => `terminal ${link} is not a pseudo-terminal (only ptys are dumped)`,
);

function stateOf(ctx: FdDumpContext): PtyState {
  let state = states.get(ctx);
  if (!state) {
    const created: PtyState = { masters: new Set(), slaves: new Map(), infos: new Set(), hungUp: new Set() };
    state = created;
    states.set(ctx, created);
    ctx.checks.push(() => checkPairs(created, ctx.options.shellJob ?? false));
  }
  return state;
}

/** The index of /dev/pts/N is N (CRIU reads it from the path too). */
function slaveIndex(f: FdFacts): number {
  const m = /\/(\d+)(?: \(deleted\))?$/.exec(f.link);
  if (!m) throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `cannot tell the index of pty ${f.link}`);
  return Number(m[1]);
}

/** Every slave needs its master in the tree, but for one terminal of the shell with --shell-job. */
function checkPairs(state: PtyState, shellJob: boolean): void {
  const unpaired = [...state.slaves].filter(([index]) => !state.masters.has(index));
  if (unpaired.length === 0) return;
  const [, first] = unpaired[0]!;
  if (!shellJob) {
    throw new FdDumpError('FD_SHELL_JOB', first.pid, first.fd, `terminal ${first.link} belongs to a shell outside the tree (its master is not dumped): dump with --shell-job`);
  }
  if (unpaired.length > 1) {
    const [, second] = unpaired[1]!;
    throw new FdDumpError('FD_SHELL_JOB', second.pid, second.fd, `terminal ${second.link} is a second terminal outside the tree (${first.link} is the shell's): only one is allowed`);
  }
}

function ttyInfo(f: FdFacts, id: number, side: PtySide, index: number): TtyInfoEntry {
  const what = (op: string) => ({ what: `${op} of pty fd ${f.fd} of task ${f.pid}` });
  let termios: KernelTermios;
  try {
    termios = ttyGetTermios(f.local, what('read the termios'));
  } catch (err) {
    if (!isSysError(err, 'EIO')) throw err;
    // Hung up (the other end is gone): every ioctl says EIO. CRIU writes what it knows.
    return { id, type: TtyType.PTY, locked: false, exclusive: false, packet_mode: false, sid: 0, pgrp: 0, rdev: Number(f.stat.rdev), pty: { index }, dev: Number(f.stat.dev) };
  }
  const { sid, pgrp } = sessionOf(f, side);
  return {
    id,
    type: TtyType.PTY,
    locked: flag(f, 'TIOCGPTLCK'),
    exclusive: flag(f, 'TIOCGEXCL'),
    packet_mode: flag(f, 'TIOCGPKT'),
    sid,
    pgrp,
    rdev: Number(f.stat.rdev),
    termios: termiosEntry(termios),
    termios_locked: termiosEntry(ttyGetTermios(f.local, { ...what('read the locked termios'), locked: true })),
    winsize: (({ row, col, xpixel, ypixel }) => ({ ws_row: row, ws_col: col, ws_xpixel: xpixel, ws_ypixel: ypixel }))(ttyGetWinsize(f.local, what('read the window size'))),
    pty: { index },
    dev: Number(f.stat.dev),
  };
}

/**
 * The session and foreground group of the terminal, as TIOCGSID/TIOCGPGRP tell its holder: a
 * slave answers only to a task whose controlling terminal it is (else 0, 0, as CRIU records it),
 * which /proc/PID/stat tells; a master answers anyone for its slave.
 */
function sessionOf(f: FdFacts, side: PtySide): { sid: number; pgrp: number } {
  if (side === 'slave') {
    const stat = readStat(f.pid);
    const rdev = Number(f.stat.rdev);
    return stat.ttyNr === rdev && stat.ttyNr !== 0 ? { sid: stat.sid, pgrp: Math.max(stat.tpgid, 0) } : { sid: 0, pgrp: 0 };
  }
  const ask = (request: 'TIOCGSID' | 'TIOCGPGRP') => {
    try {
      return ttyGetInt(f.local, request);
    } catch (err) {
      if (isSysError(err, 'ENOTTY')) return 0; // no session on the slave side
      throw new FdDumpError('FD_FAILED', f.pid, f.fd, `cannot read the session of the pty: ${(err as Error).message}`);
    }
  };
  return { sid: ask('TIOCGSID'), pgrp: ask('TIOCGPGRP') };
}

/** A pty flag; the requests a side does not answer (ENOTTY, EINVAL) read as false, as in CRIU. */
function flag(f: FdFacts, request: 'TIOCGPTLCK' | 'TIOCGEXCL' | 'TIOCGPKT'): boolean {
  try {
    return ttyGetInt(f.local, request) !== 0;
  } catch (err) {
    if (isSysError(err, 'ENOTTY') || isSysError(err, 'EINVAL')) return false;
    throw new FdDumpError('FD_FAILED', f.pid, f.fd, `cannot read ${request} of the pty: ${(err as Error).message}`);
  }
}

/**
 * A termios as CRIU stores it: flags and line discipline; c_ispeed/c_ospeed left 0 (TCGETS has no
 * speeds); c_cc as 19 words into which CRIU copies the 32 bytes of glibc's c_cc array (the kernel's
 * 19 control characters, then zeros), four bytes to a word, little-endian. The words past the 32nd
 * byte are left uninitialised by CRIU; we write zeros.
 */
export function termiosEntry(t: KernelTermios): TermiosEntry {
  const bytes = new Uint8Array(TERMIOS_NCC * 4);
  bytes.set(t.cc.subarray(0, Math.min(KERNEL_NCCS, GLIBC_NCCS)));
  const view = new DataView(bytes.buffer);
  const cc: number[] = [];
  for (let i = 0; i < TERMIOS_NCC; i++) cc.push(view.getUint32(i * 4, true));
  return { c_iflag: t.iflag, c_oflag: t.oflag, c_cflag: t.cflag, c_lflag: t.lflag, c_line: t.line, c_ispeed: 0, c_ospeed: 0, c_cc: cc };
}
