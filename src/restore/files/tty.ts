/**
 * Terminals (files.img TTY, tty-info.img), made again in the driver as CRIU's tty.c does:
 *
 *  - a pty pair inside the tree: its master opened from /dev/ptmx until the kernel hands out the
 *    index it had (lower free indexes are taken and given back: the kernel allocates the lowest),
 *    unlocked, its termios, locked termios, window size and packet mode set; then every open file
 *    of its slave (/dev/pts/N, each at its flags, its own termios and window size), and the lock
 *    and exclusive flags last, as the image says;
 *  - a slave whose master was closed (hung up): made with a master of its own index that is
 *    closed at once, which leaves the slave hung up again;
 *  - the terminal of the shell the tree was started from (a slave whose master is outside the
 *    tree), with --shell-job: the terminal criu-ts runs on (its stdin, else stdout or stderr)
 *    stands for it, opened again for each open file of it, and gets the image's termios and
 *    window size (CRIU dups its stdin and sets them too); without --shell-job it is refused.
 *
 * Every file is opened O_NOCTTY: which terminal controls which session is the tree's business.
 * Not done: bytes queued in a pair (the dump does not keep them), consoles and other terminals
 * (the dump refuses them).
 */
import { readlinkSync } from 'node:fs';
import type { FileEntry, TermiosEntry, TtyFileEntry, TtyInfoEntry } from '../../images/generated/types.js';
import { TtyType } from '../../images/generated/types.js';
import { imageFileName } from '../../images/image_files.js';
import { readEntries } from '../../images/typed.js';
import { KERNEL_NCCS, O, close, open, ttyControl, ttyGetInt, ttyGetTermios, ttySetInt, ttySetTermios, ttySetWinsize, type KernelTermios } from '../../sys/index.js';
import { RestoreError } from '../errors.js';
import type { RestorePlan } from '../plan.js';
import type { FileKindOpener, OpenContext } from './kind.js';

/** Flags open() would act on again: never passed back. */
const STRIP = O.CREAT | O.EXCL | O.TRUNC;
/** How many masters may be opened to reach one index (CRIU tries 32). */
const MAX_PTMX_TRIES = 32;

/** What the terminals of one restore share. */
interface TtyState {
  infos: Map<number, TtyInfoEntry>;
  /** Driver fds of the open files made so far, by file id. */
  made: Map<number, number>;
  /** Terminals whose files are all made, by tty_info id. */
  done: Set<number>;
}

const states = new WeakMap<OpenContext, TtyState>();

export const TTY_OPENER: FileKindOpener = {
  kind: 'TTY',
  open(entry, ctx) {
    const st = stateOf(ctx);
    const tty = entry.tty!;
    const made = st.made.get(entry.id);
    if (made !== undefined) return made;
    const info = st.infos.get(tty.tty_info_id);
    const where = holderOf(ctx.plan, entry.id);
    if (info === undefined) throw new RestoreError('RESTORE_UNSUPPORTED', `${where.label}: its terminal ${tty.tty_info_id} is not in tty-info.img`, { ...where.pid, image: imageFileName('ttyInfo') });
    if (info.type !== TtyType.PTY || info.pty === undefined) throw new RestoreError('RESTORE_UNSUPPORTED', `${where.label}: a terminal of type ${info.type} is not restored (only ptys are)`, { ...where.pid, image: imageFileName('ttyInfo') });
    const index = info.pty.index;
    try {
      if ((info.id & 1) === 1 || masterInTree(ctx.plan, index)) makePair(ctx, st, index);
      else makeLoneSlave(ctx, st, info);
    } catch (err) {
      if (err instanceof RestoreError) throw err;
      throw new RestoreError('RESTORE_FAILED', `${where.label}: cannot make pty ${index} again (${pathOf(ctx.plan, tty)}): ${(err as Error).message}`, { ...where.pid, image: imageFileName('ttyInfo'), step: 'open its files', cause: err });
    }
    return st.made.get(entry.id)!;
  },
};

function stateOf(ctx: OpenContext): TtyState {
  let st = states.get(ctx);
  if (st === undefined) {
    const infos = ctx.plan.images.readOptional('ttyInfo') === undefined ? [] : readEntries(ctx.plan.images, 'ttyInfo');
    st = { infos: new Map(infos.map((i) => [i.id, i])), made: new Map(), done: new Set() };
    states.set(ctx, st);
  }
  return st;
}

/** The TTY files of the images on terminal `infoId`, in image order. */
function filesOf(plan: RestorePlan, infoId: number): Array<FileEntry & { tty: TtyFileEntry }> {
  return [...plan.files.values()].filter((f): f is FileEntry & { tty: TtyFileEntry } => f.tty?.tty_info_id === infoId);
}

function masterInTree(plan: RestorePlan, index: number): boolean {
  return filesOf(plan, index * 2 + 1).length > 0;
}

/** The path a TTY file was opened through (its reg_file_entry), or /dev/pts/N for a slave. */
function pathOf(plan: RestorePlan, tty: TtyFileEntry, index?: number): string {
  const reg = tty.regf_id === undefined ? undefined : plan.files.get(tty.regf_id)?.reg;
  if (reg !== undefined) return reg.name;
  return (tty.tty_info_id & 1) === 1 ? '/dev/ptmx' : `/dev/pts/${index ?? tty.tty_info_id >> 1}`;
}

function openFlags(tty: TtyFileEntry): number {
  return (tty.flags & ~STRIP) | O.NOCTTY | O.CLOEXEC;
}

/** A pty pair of the tree: the master at its index, then every open file of the slave. */
function makePair(ctx: OpenContext, st: TtyState, index: number): void {
  const masterId = index * 2 + 1;
  const slaveId = index * 2;
  if (st.done.has(masterId)) return;
  const masterInfo = st.infos.get(masterId);
  const masters = filesOf(ctx.plan, masterId);
  if (masterInfo === undefined || masters.length === 0) throw new Error(`the master of pty ${index} is not in the images`);
  if (masters.length > 1) throw new RestoreError('RESTORE_UNSUPPORTED', `${holderOf(ctx.plan, masters[1]!.id).label}: a second open file of the master of pty ${index} cannot be made (a master is opened only once)`, { image: 'files.img' });
  const master = openPtmxAt(ctx, pathOf(ctx.plan, masters[0]!.tty), index, openFlags(masters[0]!.tty));
  st.made.set(masters[0]!.id, master);
  ttySetInt(master, 'TIOCSPTLCK', 0);
  setParams(master, masterInfo);
  if (masterInfo.packet_mode) ttySetInt(master, 'TIOCPKT', 1);
  const slaveInfo = st.infos.get(slaveId);
  const slaves = filesOf(ctx.plan, slaveId);
  for (const s of slaves) {
    const fd = open(pathOf(ctx.plan, s.tty, index), { flags: openFlags(s.tty), what: `open the slave of pty ${index}` });
    ctx.opened.push(fd);
    st.made.set(s.id, fd);
  }
  if (slaveInfo !== undefined && slaves.length > 0) {
    setParams(st.made.get(slaves[0]!.id)!, slaveInfo);
    if (slaveInfo.exclusive) ttyControl(st.made.get(slaves[0]!.id)!, 'TIOCEXCL');
  }
  if (masterInfo.locked) ttySetInt(master, 'TIOCSPTLCK', 1);
  st.done.add(masterId);
  st.done.add(slaveId);
}

/** A slave whose master is not in the tree: hung up, or the shell's terminal (--shell-job). */
function makeLoneSlave(ctx: OpenContext, st: TtyState, info: TtyInfoEntry): void {
  if (st.done.has(info.id)) return;
  const index = info.pty!.index;
  const slaves = filesOf(ctx.plan, info.id);
  if (info.termios === undefined) {
    // Hung up: a master of its index opened and closed around the slave's opens.
    const master = openPtmxAt(ctx, '/dev/ptmx', index, O.RDWR | O.NOCTTY | O.CLOEXEC);
    try {
      ttySetInt(master, 'TIOCSPTLCK', 0);
      for (const s of slaves) {
        const fd = open(pathOf(ctx.plan, s.tty, index), { flags: openFlags(s.tty), what: `open the slave of pty ${index}` });
        ctx.opened.push(fd);
        st.made.set(s.id, fd);
      }
    } finally {
      close(master);
      ctx.opened.splice(ctx.opened.indexOf(master), 1);
    }
    st.done.add(info.id);
    return;
  }
  const first = holderOf(ctx.plan, slaves[0]!.id);
  if (ctx.options.shellJob !== true) {
    throw new RestoreError('RESTORE_UNSUPPORTED', `${first.label}: terminal ${pathOf(ctx.plan, slaves[0]!.tty, index)} belongs to the shell the tree was started from (its master is not in the images): restore with --shell-job to give the tree the terminal criu-ts runs on`, { ...first.pid, image: imageFileName('ttyInfo') });
  }
  const own = ownTerminal();
  if (own === undefined) {
    throw new RestoreError('RESTORE_FAILED', `${first.label}: --shell-job gives the tree the terminal criu-ts runs on, and none of criu-ts's stdin, stdout and stderr is a terminal`, { ...first.pid, image: imageFileName('ttyInfo'), step: 'open its files' });
  }
  for (const s of slaves) {
    const fd = open(`/proc/self/fd/${own}`, { flags: openFlags(s.tty), what: `open the terminal criu-ts runs on (${readlinkSync(`/proc/self/fd/${own}`)})` });
    ctx.opened.push(fd);
    st.made.set(s.id, fd);
  }
  const fd = st.made.get(slaves[0]!.id)!;
  setParams(fd, info);
  if (info.exclusive) ttyControl(fd, 'TIOCEXCL');
  st.done.add(info.id);
}

/** The first of criu-ts's fds 0, 1, 2 that is a terminal (TCGETS answers). */
function ownTerminal(): number | undefined {
  for (const fd of [0, 1, 2]) {
    try {
      ttyGetTermios(fd);
      return fd;
    } catch {
      // not a terminal
    }
  }
  return undefined;
}

/**
 * `open(ptmx)` until the kernel hands out `index` (CRIU's pty_open_ptmx_index): masters of lower
 * free indexes are held meanwhile and closed after. Throws when the index is taken (the caller
 * names the task and fd).
 */
function openPtmxAt(ctx: OpenContext, path: string, index: number, flags: number): number {
  const held: number[] = [];
  try {
    for (let i = 0; i < MAX_PTMX_TRIES; i++) {
      const fd = open(path, { flags, what: `open ${path} for pty ${index}` });
      const got = ttyGetInt(fd, 'TIOCGPTN');
      if (got === index) {
        ctx.opened.push(fd);
        return fd;
      }
      held.push(fd);
      if (got > index || index - got >= MAX_PTMX_TRIES) break;
    }
  } finally {
    for (const fd of held) close(fd);
  }
  throw new Error(`its index is in use on this machine (/dev/pts/${index} exists)`);
}

/**
 * The termios, its locked bits, then the window size. CRIU sets the locked termios first, which
 * keeps TCSETS from changing the bits it locks (a bit locked after it was changed, as a program
 * does it, comes back unchanged): here every lock is lifted, the termios set, then the image's
 * locks put back.
 */
function setParams(fd: number, info: TtyInfoEntry): void {
  if (info.termios !== undefined) {
    ttySetTermios(fd, { iflag: 0, oflag: 0, cflag: 0, lflag: 0, line: 0, cc: new Uint8Array(KERNEL_NCCS) }, { locked: true });
    ttySetTermios(fd, kernelTermios(info.termios));
  }
  if (info.termios_locked !== undefined) ttySetTermios(fd, kernelTermios(info.termios_locked), { locked: true });
  const ws = info.winsize;
  if (ws !== undefined) ttySetWinsize(fd, { row: ws.ws_row, col: ws.ws_col, xpixel: ws.ws_xpixel, ypixel: ws.ws_ypixel });
}

/** A termios_entry as the kernel takes it: c_cc from the bytes packed four to a word (little-endian). */
export function kernelTermios(t: TermiosEntry): KernelTermios {
  const words = t.c_cc ?? [];
  const bytes = new Uint8Array(Math.max(words.length * 4, KERNEL_NCCS));
  const view = new DataView(bytes.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w >>> 0, true));
  return { iflag: t.c_iflag, oflag: t.c_oflag, cflag: t.c_cflag, lflag: t.c_lflag, line: t.c_line, cc: bytes.slice(0, KERNEL_NCCS) };
}

/** `Task P, fd N` of the first fd that holds file `id`, and that task's pid for the error. */
function holderOf(plan: RestorePlan, id: number): { label: string; pid: { pid?: number } } {
  for (const task of plan.tasks) for (const fd of task.fds ?? []) if (fd.id === id) return { label: `Task ${task.pid}, fd ${fd.fd}`, pid: { pid: task.pid } };
  return { label: `File ${id}`, pid: {} };
}
