/**
 * Terminal ioctls that read a tty's state: its termios (current and locked), window size, pty
 * index and the pty flags; and those that set it again (restore). The request numbers are the asm-generic ones, which x86_64 and
 * aarch64 both use (`asm-generic/ioctls.h`); a test checks them against the C headers.
 */

import { type SysContext } from './error.js';
import { fail, lastErrno, sysInt, sysPtr } from './libc.js';
import { NR } from './syscalls.js';

/** The tty ioctl requests criu-ts reads and sets with (`asm-generic/ioctls.h`). */
export const TTY_IOCTL = Object.freeze({
  TCGETS: 0x5401,
  TCSETS: 0x5402,
  TIOCEXCL: 0x540c,
  TIOCSCTTY: 0x540e,
  TIOCSPGRP: 0x5410,
  TIOCSWINSZ: 0x5414,
  TIOCPKT: 0x5420,
  TIOCSLCKTRMIOS: 0x5457,
  TIOCSPTLCK: 0x40045431,
  TIOCGPGRP: 0x540f,
  TIOCGWINSZ: 0x5413,
  TIOCGSID: 0x5429,
  TIOCGLCKTRMIOS: 0x5456,
  TIOCGPTN: 0x80045430,
  TIOCGPKT: 0x80045438,
  TIOCGPTLCK: 0x80045439,
  TIOCGEXCL: 0x80045440,
});

/** The kernel's `NCCS` (the length of `c_cc` in the struct termios TCGETS fills). */
export const KERNEL_NCCS = 19;

/** The kernel's struct termios as TCGETS gives it (no speeds: those come with TCGETS2). */
export interface KernelTermios {
  iflag: number;
  oflag: number;
  cflag: number;
  lflag: number;
  line: number;
  /** The `KERNEL_NCCS` control characters. */
  cc: Uint8Array;
}

/** struct winsize. */
export interface Winsize {
  row: number;
  col: number;
  xpixel: number;
  ypixel: number;
}

function ioctlRead(fd: number, request: number, buf: ArrayBufferView, name: string, opts?: SysContext): void {
  const r = sysPtr(NR.ioctl, fd, request, buf);
  if (r === -1) throw fail(lastErrno(), 'ioctl', opts, { call: `ioctl(${fd}, ${name})` });
}

/**
 * `ioctl(fd, TCGETS, &termios)` — the terminal's settings; with `locked`,
 * `ioctl(fd, TIOCGLCKTRMIOS, ...)` — which of them are locked.
 */
export function ttyGetTermios(fd: number, opts?: SysContext & { locked?: boolean }): KernelTermios {
  const buf = new Uint8Array(17 + KERNEL_NCCS);
  const locked = opts?.locked ?? false;
  ioctlRead(fd, locked ? TTY_IOCTL.TIOCGLCKTRMIOS : TTY_IOCTL.TCGETS, buf, locked ? 'TIOCGLCKTRMIOS' : 'TCGETS', opts);
  const view = new DataView(buf.buffer);
  return {
    iflag: view.getUint32(0, true),
    oflag: view.getUint32(4, true),
    cflag: view.getUint32(8, true),
    lflag: view.getUint32(12, true),
    line: buf[16]!,
    cc: buf.slice(17, 17 + KERNEL_NCCS),
  };
}

/** `ioctl(fd, TIOCGWINSZ, &winsize)` — the terminal's window size. */
export function ttyGetWinsize(fd: number, opts?: SysContext): Winsize {
  const buf = new Uint8Array(8);
  ioctlRead(fd, TTY_IOCTL.TIOCGWINSZ, buf, 'TIOCGWINSZ', opts);
  const view = new DataView(buf.buffer);
  return { row: view.getUint16(0, true), col: view.getUint16(2, true), xpixel: view.getUint16(4, true), ypixel: view.getUint16(6, true) };
}

/**
 * `ioctl(fd, request, &int)` for the tty requests that return one int (`TIOCGPTN`, `TIOCGPTLCK`,
 * `TIOCGPKT`, `TIOCGEXCL`, `TIOCGSID`, `TIOCGPGRP`).
 */
export function ttyGetInt(fd: number, request: keyof typeof TTY_IOCTL, opts?: SysContext): number {
  const buf = new Uint8Array(4);
  ioctlRead(fd, TTY_IOCTL[request], buf, request, opts);
  return new DataView(buf.buffer).getInt32(0, true);
}

/**
 * `ioctl(fd, TCSETS, &termios)` — sets the terminal's settings at once; with `locked`,
 * `ioctl(fd, TIOCSLCKTRMIOS, ...)` — which of them are locked (needs CAP_SYS_ADMIN).
 */
export function ttySetTermios(fd: number, t: KernelTermios, opts?: SysContext & { locked?: boolean }): void {
  const buf = new Uint8Array(17 + KERNEL_NCCS);
  const view = new DataView(buf.buffer);
  view.setUint32(0, t.iflag >>> 0, true);
  view.setUint32(4, t.oflag >>> 0, true);
  view.setUint32(8, t.cflag >>> 0, true);
  view.setUint32(12, t.lflag >>> 0, true);
  buf[16] = t.line;
  buf.set(t.cc.subarray(0, KERNEL_NCCS), 17);
  const locked = opts?.locked ?? false;
  ioctlRead(fd, locked ? TTY_IOCTL.TIOCSLCKTRMIOS : TTY_IOCTL.TCSETS, buf, locked ? 'TIOCSLCKTRMIOS' : 'TCSETS', opts);
}

/** `ioctl(fd, TIOCSWINSZ, &winsize)` — sets the terminal's window size. */
export function ttySetWinsize(fd: number, ws: Winsize, opts?: SysContext): void {
  const buf = new Uint8Array(8);
  const view = new DataView(buf.buffer);
  view.setUint16(0, ws.row, true);
  view.setUint16(2, ws.col, true);
  view.setUint16(4, ws.xpixel, true);
  view.setUint16(6, ws.ypixel, true);
  ioctlRead(fd, TTY_IOCTL.TIOCSWINSZ, buf, 'TIOCSWINSZ', opts);
}

/**
 * `ioctl(fd, request, &int)` for the tty requests that take a pointer to one int (`TIOCSPTLCK`,
 * `TIOCPKT`, `TIOCSPGRP`).
 */
export function ttySetInt(fd: number, request: 'TIOCSPTLCK' | 'TIOCPKT' | 'TIOCSPGRP', value: number, opts?: SysContext): void {
  ioctlRead(fd, TTY_IOCTL[request], Int32Array.of(value), request, opts);
}

/** `ioctl(fd, request, arg)` for the requests that take a plain int argument (`TIOCEXCL`, `TIOCSCTTY`). */
export function ttyControl(fd: number, request: 'TIOCEXCL' | 'TIOCSCTTY', arg = 0, opts?: SysContext): void {
  const r = sysInt(NR.ioctl, fd, TTY_IOCTL[request], arg);
  if (r === -1) throw fail(lastErrno(), 'ioctl', opts, { call: `ioctl(${fd}, ${request}, ${arg})` });
}
