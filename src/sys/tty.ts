/**
 * Terminal ioctls that read a tty's state: its termios (current and locked), window size, pty
 * index and the pty flags. The request numbers are the asm-generic ones, which x86_64 and
 * aarch64 both use (`asm-generic/ioctls.h`); a test checks them against the C headers.
 */

import { type SysContext } from './error.js';
import { fail, lastErrno, sysPtr } from './libc.js';
import { NR } from './syscalls.js';

/** The tty ioctl requests criu-ts reads with (`asm-generic/ioctls.h`). */
export const TTY_IOCTL = Object.freeze({
  TCGETS: 0x5401,
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

function ioctlRead(fd: number, request: number, buf: Uint8Array, name: string, opts?: SysContext): void {
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
