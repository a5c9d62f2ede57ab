/**
 * Dumping pseudo-terminals: the terminal of the shell a job runs in (--shell-job), and a pty pair
 * inside the tree; checked against what the program set and what /proc and stat() say.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dumpTree } from '../../src/dump/dump.js';
import { FdTypes, TtyType } from '../../src/images/generated/types.js';
import { readEntries } from '../../src/images/typed.js';
import { decodeWithBothCrits, dumpRunning, fdinfoText, removeDumps, waitPaused } from '../support/fd_dump.js';
import { CRIU_TS } from '../support/paths.js';
import { killAllPrograms, startProgram, workDir, type Target } from '../support/programs.js';

const children: number[] = [];
afterAll(() => {
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  killAllPrograms();
  removeDumps();
});

const O_CLOEXEC = 0o2000000;
const ECHO = 0o10;

/** Starts the program; returns its child (the tree to dump) and what the child printed. */
function startPty(): { target: Target; child: number; shell: number; own: number; dead: number; termios: number[]; cc: number[]; locked: number } {
  const target = startProgram('pty_state');
  const [, child, shell, own, dead] = target.waitOutput(/child (\d+) shell (\d+) own (\d+) dead (\d+)/).map(Number);
  children.push(child!);
  const words = target.waitOutput(/^termios (.*)$/m)[1]!.split(' ').map((w) => parseInt(w, 16));
  const locked = parseInt(target.waitOutput(/^locked ([0-9a-f]+)$/m)[1]!, 16);
  return { target, child: child!, shell: shell!, own: own!, dead: dead!, termios: words.slice(0, 5), cc: words.slice(5), locked };
}

/** CRIU's c_cc: 19 words holding glibc's 32 c_cc bytes, 4 to a word, little-endian; zeros after. */
function packedCc(cc: number[]): number[] {
  const bytes = Buffer.alloc(19 * 4);
  cc.forEach((c, i) => (bytes[i] = c));
  return Array.from({ length: 19 }, (_, i) => bytes.readUInt32LE(i * 4));
}

function finish(target: Target, child: number): void {
  waitPaused(child);
  process.kill(child, 'SIGTERM');
  target.waitOutput(/PASS/);
}

describe('tty dump', () => {
  it('writes the shell terminal of a --shell-job tree and a pty pair inside it', async () => {
    const { target, child, shell, own, dead, termios, cc, locked } = startPty();
    const st = new Map([3, 4, 5, 6, 8].map((fd) => [fd, statSync(`/proc/${child}/fd/${fd}`, { bigint: true })]));
    const stat = readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const [sid, tpgid] = [Number(stat[3]), Number(stat[5])];
    expect(sid).toBe(child);
    const flagsOf = (fd: number) => parseInt(/^flags:\s+([0-7]+)$/m.exec(fdinfoText(child, fd))![1]!, 8) & ~O_CLOEXEC;
    const dump = await dumpRunning(child, { shellJob: true });
    const fds = dump.fds(child);
    expect([3, 4, 5, 6, 8].map((fd) => fds.get(fd)!.type)).toEqual(Array(5).fill(FdTypes.TTY));

    // Each open file: its tty_info id (index * 2, + 1 for a master) and the path it was opened by.
    const infoIds = new Map([[3, shell * 2], [4, shell * 2], [5, own * 2 + 1], [6, own * 2], [8, dead * 2]]);
    const paths = new Map([[3, `/dev/pts/${shell}`], [4, `/dev/pts/${shell}`], [5, '/dev/ptmx'], [6, `/dev/pts/${own}`], [8, `/dev/pts/${dead}`]]);
    for (const fd of [3, 4, 5, 6, 8]) {
      const file = dump.file(child, fd);
      expect(file.tty).toEqual({ id: file.id, tty_info_id: infoIds.get(fd), flags: flagsOf(fd), fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 }, regf_id: expect.any(Number) });
      const reg = dump.byId(file.tty!.regf_id!).reg!;
      expect(reg).toMatchObject({ name: paths.get(fd), flags: flagsOf(fd), mode: Number(st.get(fd)!.mode) });
      expect(reg.size).toBeUndefined();
    }
    expect(dump.file(child, 3).id).not.toBe(dump.file(child, 4).id);

    // One tty_info per terminal.
    const infos = readEntries(dump.images, 'ttyInfo');
    expect(infos.map((i) => i.id)).toEqual([shell * 2, own * 2 + 1, own * 2, dead * 2]);
    const [shellInfo, master, slave, hungUp] = infos as [typeof infos[0], typeof infos[0], typeof infos[0], typeof infos[0]];
    // The shell's terminal: the child's controlling terminal, as the child set it up.
    expect(shellInfo).toEqual({
      id: shell * 2,
      type: TtyType.PTY,
      locked: false,
      exclusive: true,
      packet_mode: false,
      sid,
      pgrp: tpgid,
      rdev: Number(st.get(3)!.rdev),
      termios: { c_iflag: termios[0], c_oflag: termios[1], c_cflag: termios[2], c_lflag: termios[3], c_line: termios[4], c_ispeed: 0, c_ospeed: 0, c_cc: packedCc(cc) },
      termios_locked: { c_iflag: 0, c_oflag: 0, c_cflag: 0, c_lflag: locked, c_line: 0, c_ispeed: 0, c_ospeed: 0, c_cc: packedCc([]) },
      winsize: { ws_row: 33, ws_col: 111, ws_xpixel: 1, ws_ypixel: 2 },
      pty: { index: shell },
      dev: Number(st.get(3)!.dev),
    });
    expect(locked).toBe(ECHO);
    // What the program set, at its place in the packed words: VINTR (0) ^G, VTIME (5) 7, VMIN (6) 3.
    const [w0, w1] = shellInfo.termios!.c_cc! as [number, number];
    expect([w0 & 0xff, (w1 >>> 8) & 0xff, (w1 >>> 16) & 0xff]).toEqual([7, 7, 3]);
    // The pair of its own: the master locked and in packet mode; neither is anyone's terminal.
    expect(master).toMatchObject({ type: TtyType.PTY, locked: true, exclusive: false, packet_mode: true, sid: 0, pgrp: 0, rdev: Number(st.get(5)!.rdev), pty: { index: own } });
    expect(slave).toMatchObject({ type: TtyType.PTY, locked: false, exclusive: false, packet_mode: false, sid: 0, pgrp: 0, rdev: Number(st.get(6)!.rdev), pty: { index: own } });

    // The hung-up one (its master closed): what is known without ioctls; it pairs with nothing,
    // so it is not a second terminal outside the tree.
    expect(hungUp).toEqual({ id: dead * 2, type: TtyType.PTY, locked: false, exclusive: false, packet_mode: false, sid: 0, pgrp: 0, rdev: Number(st.get(8)!.rdev), pty: { index: dead }, dev: Number(st.get(8)!.dev) });

    const crit = decodeWithBothCrits(dump.dir, /^(files|fdinfo-\d+|tty-info)\.img$/);
    expect(crit.get('tty-info.img')!.entries.map((e) => e['id'])).toEqual([shell * 2, own * 2 + 1, own * 2, dead * 2]);

    finish(target, child);
  });

  it('refuses the shell terminal without --shell-job (also from the command line), and the task runs on', async () => {
    const { target, child, shell } = startPty();
    let error: unknown;
    try {
      await dumpTree(child, { imagesDir: join(mkdtempSync(join(workDir(), 'tty-')), 'images'), after: 'leave-running' });
    } catch (err) {
      error = err;
    }
    expect((error as { code: string }).code).toBe('FD_SHELL_JOB');
    expect((error as Error).message).toMatch(new RegExp(`^task ${child}, fd 3: terminal /dev/pts/${shell} belongs to a shell outside the tree .*--shell-job`));

    const dir = mkdtempSync(join(workDir(), 'tty-cli-'));
    const refused = spawnSync(process.execPath, [CRIU_TS, 'dump', '-t', String(child), '-D', join(dir, 'no'), '-R'], { encoding: 'utf8' });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/\[FD_SHELL_JOB\]/);
    const dumped = spawnSync(process.execPath, [CRIU_TS, 'dump', '-t', String(child), '-D', join(dir, 'yes'), '-R', '--shell-job'], { encoding: 'utf8' });
    expect(dumped.stderr).toBe('');
    expect(dumped.status).toBe(0);
    finish(target, child);
  });
});
