// Real files, pipes and memory through src/sys (no mocks).
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allocPages,
  close,
  ERRNO,
  errnoDescription,
  errnoName,
  errnoNumber,
  F,
  fcntl,
  fstat,
  ftruncate,
  getPipeSize,
  isSysError,
  lseek,
  MAP,
  memfdCreate,
  mmap,
  mprotect,
  munmap,
  NR,
  O,
  open,
  pageSize,
  pipe2,
  pread,
  preadv,
  PROT,
  pwrite,
  pwritev,
  read,
  readv,
  resetSyscallCounts,
  S_IF,
  SEEK,
  setPipeSize,
  splice,
  SPLICE_F,
  statx,
  syscall,
  syscallCounts,
  syscallRaw,
  SysError,
  tee,
  viewMemory,
  vmsplice,
  write,
  writev,
} from '../../src/sys/index.js';
import { withFds } from '../support/fds.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-ts-sys-io-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});


describe('errno table and SysError', () => {
  it('names and describes errnos', () => {
    expect(errnoName(3)).toBe('ESRCH');
    expect(errnoName(-2)).toBe('ENOENT');
    expect(errnoNumber('EWOULDBLOCK')).toBe(ERRNO.EAGAIN);
    expect(errnoDescription(ERRNO.ENOENT!)).toBe('No such file or directory');
    expect(errnoName(ERRNO.ERESTARTSYS!)).toBe('ERESTARTSYS');
    expect(errnoName(9999)).toBe('E9999');
  });

  it('reports a missing file as ENOENT naming the path and the caller intent', () => {
    const path = join(dir, 'does-not-exist');
    let caught: unknown;
    try {
      open(path, { what: 'open the inventory image' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SysError);
    const err = caught as SysError;
    expect(err.code).toBe('ENOENT');
    expect(err.errno).toBe(2);
    expect(err.syscall).toBe('openat');
    expect(err.path).toBe(path);
    expect(err.name).toBe('SysError');
    expect(err.message).toContain('Open the inventory image');
    expect(err.message).toContain(path);
    expect(err.message).toContain('No such file or directory');
    expect(isSysError(err, 'ENOENT')).toBe(true);
    expect(isSysError(err, 'EPERM')).toBe(false);
  });

  it('reports a bad fd as EBADF from the call that failed', () => {
    expect(() => read(-1, Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'read' }));
    expect(() => close(-1)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
  });

  it('counts the system calls it makes', () => {
    resetSyscallCounts();
    const [r, w] = pipe2();
    close(r);
    close(w);
    expect(syscallCounts()).toEqual({ pipe2: 1, close: 2 });
  });

  it('makes raw syscalls by number, throwing or kernel style', () => {
    expect(syscall(NR.getpid)).toBe(BigInt(process.pid));
    expect(syscall('getpid')).toBe(BigInt(process.pid));
    expect(() => syscall('kill', process.pid, -1)).toThrow(/^kill\(\d+, -1\) failed: EINVAL/);
    expect(syscallRaw(NR.close, -1)).toBe(-BigInt(ERRNO.EBADF!));
    expect(() => syscall(NR.close, -1)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
    const buf = Buffer.alloc(8);
    const [r, w] = pipe2();
    try {
      expect(syscall(NR.write, w, Buffer.from('abc'), 3)).toBe(3n);
      expect(syscall(NR.read, r, buf, 8)).toBe(3n);
      expect(buf.subarray(0, 3).toString()).toBe('abc');
    } finally {
      close(r);
      close(w);
    }
  });
});

describe('files', () => {
  it('opens, writes, seeks, reads, and positioned and vectored I/O agree', () => {
    const path = join(dir, 'data.bin');
    withFds((keep) => {
      const fd = keep(open(path, { flags: O.RDWR | O.CREAT | O.TRUNC | O.CLOEXEC, mode: 0o644 }));
      expect(write(fd, Buffer.from('hello world'))).toBe(11);
      expect(lseek(fd, 0n, { whence: SEEK.CUR })).toBe(11n);
      expect(lseek(fd, 6)).toBe(6n);
      const five = Buffer.alloc(5);
      expect(read(fd, five)).toBe(5);
      expect(five.toString()).toBe('world');
      expect(pwrite(fd, Buffer.from('HELLO'), { offset: 0 })).toBe(5);
      const at = Buffer.alloc(5);
      expect(pread(fd, at, { offset: 0n })).toBe(5);
      expect(at.toString()).toBe('HELLO');
      expect(lseek(fd, 0, { whence: SEEK.CUR })).toBe(11n);
      expect(pwritev(fd, [Buffer.from('ab'), Buffer.from('cd')], { offset: 100n })).toBe(4);
      const a = Buffer.alloc(3);
      const b = Buffer.alloc(1);
      expect(preadv(fd, [a, b], { offset: 100 })).toBe(4);
      expect(a.toString() + b.toString()).toBe('abcd');
      expect(lseek(fd, 0, { whence: SEEK.END })).toBe(104n);
      lseek(fd, 0);
      const x = Buffer.alloc(2);
      const y = Buffer.alloc(3);
      expect(readv(fd, [x, y])).toBe(5);
      expect(x.toString() + y.toString()).toBe('HELLO');
      lseek(fd, 0, { whence: SEEK.END });
      expect(writev(fd, [Buffer.from('!'), Buffer.from('?')])).toBe(2);
      ftruncate(fd, 50);
      expect(fstat(fd).size).toBe(50n);
      expect(fcntl(fd, F.GETFD)).toBe(1);
      expect(fcntl(fd, F.GETFL) & O.ACCMODE).toBe(O.RDWR);
    });
    expect(readFileSync(path).subarray(0, 11).toString()).toBe('HELLO world');
  });

  it('fstat and statx agree with node:fs', () => {
    const path = join(dir, 'stat.txt');
    writeFileSync(path, 'twelve bytes');
    const nodeFd = openSync(path, 'r');
    try {
      const ours = fstat(nodeFd);
      const theirs = fstatSync(nodeFd, { bigint: true });
      expect(ours.ino).toBe(theirs.ino);
      expect(ours.dev).toBe(theirs.dev);
      expect(ours.size).toBe(12n);
      expect(ours.mode).toBe(Number(theirs.mode));
      expect(ours.mode & S_IF.MT).toBe(S_IF.REG);
      expect(ours.nlink).toBe(1);
      expect(ours.mtimeNs).toBe(theirs.mtimeNs);
      expect(ours.mntId).toBeGreaterThan(0n);
      const byPath = statx(-100, path);
      expect(byPath.ino).toBe(ours.ino);
      expect(statx(-100, dir).mode & S_IF.MT).toBe(S_IF.DIR);
    } finally {
      closeSync(nodeFd);
    }
    expect(() => statx(-100, join(dir, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'statx' }));
  });
});

describe('pipes', () => {
  it('pipe2 + write + read', () => {
    withFds((keep) => {
      const [r, w] = pipe2({ flags: O.CLOEXEC });
      keep(r);
      keep(w);
      expect(write(w, Buffer.from('through the pipe'))).toBe(16);
      const buf = Buffer.alloc(64);
      expect(read(r, buf)).toBe(16);
      expect(buf.subarray(0, 16).toString()).toBe('through the pipe');
    });
  });

  it('a non-blocking empty pipe says EAGAIN', () => {
    withFds((keep) => {
      const [r, w] = pipe2({ flags: O.NONBLOCK | O.CLOEXEC });
      keep(r);
      keep(w);
      expect(() => read(r, Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    });
  });

  it('F_SETPIPE_SZ grows a pipe and F_GETPIPE_SZ reads it back', () => {
    withFds((keep) => {
      const [r, w] = pipe2();
      keep(r);
      keep(w);
      expect(getPipeSize(w)).toBe(16 * pageSize());
      const size = setPipeSize(w, 1 << 20);
      expect(size).toBeGreaterThanOrEqual(1 << 20);
      expect(getPipeSize(r)).toBe(size);
      expect(() => setPipeSize(w, 1 << 30)).toThrow(SysError);
    });
  });

  it('vmsplice puts page-aligned memory into a pipe and splice moves it to a file', () => {
    const path = join(dir, 'pages.img');
    const page = pageSize();
    const pages = allocPages(2 * page);
    try {
      pages.bytes.fill(0xab, 0, page);
      pages.bytes.fill(0xcd, page, 2 * page);
      withFds((keep) => {
        const [r, w] = pipe2();
        keep(r);
        keep(w);
        const file = keep(open(path, { flags: O.WRONLY | O.CREAT | O.TRUNC, mode: 0o600 }));
        expect(vmsplice(w, [pages.range(0, page), pages.bytes.subarray(page, 2 * page)], { flags: SPLICE_F.GIFT })).toBe(2 * page);
        let moved = 0;
        while (moved < 2 * page) {
          const n = splice(r, file, { len: 2 * page - moved, flags: SPLICE_F.MOVE });
          expect(n).toBeGreaterThan(0);
          moved += n;
        }
        // splice to an explicit offset leaves the file position alone.
        expect(write(w, Buffer.from('tail'))).toBe(4);
        expect(splice(r, file, { len: 4, offOut: 3n * BigInt(page) })).toBe(4);
        expect(lseek(file, 0, { whence: SEEK.CUR })).toBe(BigInt(2 * page));
      });
      const data = readFileSync(path);
      expect(data.length).toBe(3 * page + 4);
      expect(data.subarray(0, page).every((b) => b === 0xab)).toBe(true);
      expect(data.subarray(page, 2 * page).every((b) => b === 0xcd)).toBe(true);
      expect(data.subarray(3 * page).toString()).toBe('tail');
    } finally {
      pages.unmap();
    }
    expect(pages.mapped).toBe(false);
    expect(() => pages.bytes).toThrow(/unmapped/);
  });

  it('splice reads a file at an offset into a pipe, and tee copies between pipes', () => {
    const path = join(dir, 'src.txt');
    writeFileSync(path, '0123456789');
    withFds((keep) => {
      const file = keep(open(path));
      const [r1, w1] = pipe2();
      const [r2, w2] = pipe2();
      [r1, w1, r2, w2].forEach(keep);
      expect(splice(file, w1, { len: 4, offIn: 3 })).toBe(4);
      expect(lseek(file, 0, { whence: SEEK.CUR })).toBe(0n);
      expect(tee(r1, w2, { len: 100 })).toBe(4);
      const a = Buffer.alloc(8);
      const b = Buffer.alloc(8);
      expect(read(r1, a)).toBe(4);
      expect(read(r2, b)).toBe(4);
      expect(a.subarray(0, 4).toString()).toBe('3456');
      expect(b.subarray(0, 4).toString()).toBe('3456');
    });
  });
});

describe('memory', () => {
  it('allocates page-aligned buffers', () => {
    const pb = allocPages(10, { populate: true });
    try {
      expect(pb.length).toBe(pageSize());
      expect(pb.address % BigInt(pageSize())).toBe(0n);
      expect(pb.bytes.byteLength).toBe(pageSize());
      pb.bytes[0] = 7;
      expect(viewMemory(pb.address, 1)[0]).toBe(7);
      expect(() => pb.range(1, pageSize())).toThrow(RangeError);
    } finally {
      pb.unmap();
      pb.unmap();
    }
  });

  it('memfd_create + mmap shared: the mapping and the file see the same bytes', () => {
    const size = 2 * pageSize();
    withFds((keep) => {
      const fd = keep(memfdCreate('criu-ts-test'));
      ftruncate(fd, size);
      const addr = mmap(size, { prot: PROT.READ | PROT.WRITE, flags: MAP.SHARED, fd });
      try {
        const view = viewMemory(addr, size);
        view.set(Buffer.from('written via the mapping'), 100);
        const back = Buffer.alloc(23);
        expect(pread(fd, back, { offset: 100 })).toBe(23);
        expect(back.toString()).toBe('written via the mapping');
        pwrite(fd, Buffer.from('written via the fd'), { offset: pageSize() });
        expect(Buffer.from(view.subarray(pageSize(), pageSize() + 18)).toString()).toBe('written via the fd');
        expect(readFileSync(`/proc/self/fd/${fd}`).subarray(100, 123).toString()).toBe('written via the mapping');
        mprotect(addr, size, { prot: PROT.READ });
      } finally {
        munmap(addr, size);
      }
      expect(statSync(`/proc/self/fd/${fd}`).size).toBe(size);
    });
  });

  it('rejects a bad mapping with EINVAL', () => {
    expect(() => mmap(0)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'mmap' }));
    expect(() => munmap(1n, 4096)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'munmap' }));
  });
});
