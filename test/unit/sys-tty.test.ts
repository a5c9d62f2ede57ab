/**
 * The tty ioctls and file handles of src/sys: request numbers and the kernel's struct layouts
 * against the uapi headers (a C probe), and each call on a live pty and file.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { KERNEL_NCCS, O, TTY_IOCTL, close, fstat, isSysError, nameToHandleAt, open, openByHandleAt, ttyControl, ttyGetInt, ttyGetTermios, ttyGetWinsize, ttySetInt, ttySetTermios, ttySetWinsize } from '../../src/sys/index.js';
import { withFds } from '../support/fds.js';

const work = mkdtempSync(join(tmpdir(), 'criu-ts-sys-tty-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function probe(): Map<string, string> {
  const bin = join(work, 'tty_probe');
  execFileSync('gcc', ['-Wall', '-Werror', '-o', bin, fileURLToPath(new URL('../support/tty_probe.c', import.meta.url))]);
  const out = new Map<string, string>();
  for (const line of execFileSync(bin, { encoding: 'utf8' }).trim().split('\n')) {
    const [kind, name, ...rest] = line.split(' ');
    out.set(`${kind} ${name}`, rest.join(' '));
  }
  return out;
}

describe('sys: tty ioctls and file handles', () => {
  it('has the uapi headers\' request numbers and struct termios/winsize', () => {
    const facts = probe();
    for (const [name, value] of Object.entries(TTY_IOCTL)) expect({ name, value }).toEqual({ name, value: Number(facts.get(`const ${name}`)) });
    expect(KERNEL_NCCS).toBe(Number(facts.get('const NCCS')));
    // ttyGetTermios reads 4 flags, c_line at 16 and c_cc right after: 17 + NCCS bytes.
    expect(facts.get('field c_line')).toBe('16 1');
    expect(facts.get('field c_cc')).toBe(`17 ${KERNEL_NCCS}`);
    expect(Number(facts.get('size termios'))).toBe(17 + KERNEL_NCCS);
    expect(Number(facts.get('size winsize'))).toBe(8);
  });

  it('reads a pty\'s index, flags, termios and window size', () => {
    withFds((keep) => {
      const master = keep(open('/dev/ptmx', { flags: O.RDWR | O.NOCTTY | O.CLOEXEC }));
      const index = ttyGetInt(master, 'TIOCGPTN');
      expect(index).toBeGreaterThanOrEqual(0);
      expect(ttyGetInt(master, 'TIOCGPTLCK')).toBe(1); // a new master is locked
      expect(ttyGetInt(master, 'TIOCGPKT')).toBe(0);
      const t = ttyGetTermios(master);
      expect(t.cc).toHaveLength(KERNEL_NCCS);
      expect(t.cc[0]).toBe(3); // VINTR is ^C by default
      expect(ttyGetTermios(master, { locked: true }).lflag).toBe(0);
      expect(ttyGetWinsize(master)).toEqual({ row: 0, col: 0, xpixel: 0, ypixel: 0 });
      let error: unknown;
      try {
        ttyGetInt(master, 'TIOCGSID'); // the slave side has no session
      } catch (err) {
        error = err;
      }
      expect(isSysError(error, 'ENOTTY')).toBe(true);
    });
  });

  it("sets a pty's termios (current and locked), window size, lock, packet mode and exclusive flag", () => {
    withFds((keep) => {
      const master = keep(open('/dev/ptmx', { flags: O.RDWR | O.NOCTTY | O.CLOEXEC }));
      ttySetInt(master, 'TIOCSPTLCK', 0);
      expect(ttyGetInt(master, 'TIOCGPTLCK')).toBe(0);
      const slave = keep(open(`/dev/pts/${ttyGetInt(master, 'TIOCGPTN')}`, { flags: O.RDWR | O.NOCTTY | O.CLOEXEC }));
      const t = ttyGetTermios(slave);
      const cc = Uint8Array.from(t.cc);
      cc[6] = 3; // VMIN
      ttySetTermios(slave, { ...t, lflag: t.lflag & ~0o10, cc }); // no ECHO
      expect(ttyGetTermios(slave)).toEqual({ ...t, lflag: t.lflag & ~0o10, cc });
      ttySetTermios(slave, { iflag: 0, oflag: 0, cflag: 0, lflag: 0o10, line: 0, cc: new Uint8Array(KERNEL_NCCS) }, { locked: true });
      expect(ttyGetTermios(slave, { locked: true }).lflag).toBe(0o10);
      ttySetWinsize(slave, { row: 33, col: 111, xpixel: 1, ypixel: 2 });
      expect(ttyGetWinsize(master)).toEqual({ row: 33, col: 111, xpixel: 1, ypixel: 2 });
      ttySetInt(master, 'TIOCPKT', 1);
      expect(ttyGetInt(master, 'TIOCGPKT')).toBe(1);
      ttyControl(slave, 'TIOCEXCL');
      expect(ttyGetInt(slave, 'TIOCGEXCL')).toBe(1);
      ttySetInt(master, 'TIOCSPTLCK', 1);
      expect(ttyGetInt(master, 'TIOCGPTLCK')).toBe(1);
    });
  });

  it('names a file by its handle and opens it again by that handle', () => {
    const file = join(work, 'named');
    writeFileSync(file, 'x');
    const h = nameToHandleAt(-100 /* AT_FDCWD */, file);
    expect(h.bytes.length).toBeGreaterThan(0);
    withFds((keep) => {
      const mount = keep(open(work, { flags: O.RDONLY | O.DIRECTORY | O.CLOEXEC }));
      const fd = keep(openByHandleAt(mount, h, { flags: O.PATH | O.CLOEXEC }));
      expect(fstat(fd).ino).toBe(statSync(file, { bigint: true }).ino);
    });
    rmSync(file);
    // The inode is gone: the handle opens nothing.
    withFds((keep) => {
      const mount = keep(open(work, { flags: O.RDONLY | O.DIRECTORY | O.CLOEXEC }));
      let error: unknown;
      try {
        close(openByHandleAt(mount, h, { flags: O.PATH | O.CLOEXEC }));
      } catch (err) {
        error = err;
      }
      expect(isSysError(error, 'ESTALE')).toBe(true);
    });
  });
});
