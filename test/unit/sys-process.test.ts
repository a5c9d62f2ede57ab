// Real tasks through src/sys: signals, pidfds, cross-process memory, clone3 argument checks.
// Targets are detached `sleep` processes (see sys-targets.ts), all killed in afterEach.
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  allocPages,
  clone3,
  CLONE,
  CLONE_ARGS,
  close,
  encodeCloneArgs,
  fstat,
  getBig,
  getpid,
  getppid,
  gettid,
  hostArch,
  kill,
  pidfdGetfd,
  pidfdOpen,
  pidfdSendSignal,
  PR,
  prctl,
  processVmReadv,
  processVmWritev,
  SIG,
  SysError,
  tgkill,
  uname,
} from '../../src/sys/index.js';
import { freePid, isDead, killAllTargets, startSleeper, waitUntil } from './sys-targets.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-ts-sys-proc-'));
});
afterEach(() => {
  killAllTargets();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The first mapping of a task's /proc/PID/maps whose line matches `test`. */
function findMapping(pid: number, test: (line: string) => boolean): { start: bigint; end: bigint } {
  const line = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').find(test);
  if (line === undefined) throw new Error(`No matching mapping in /proc/${pid}/maps`);
  const [start, end] = line.split(' ')[0]!.split('-') as [string, string];
  return { start: BigInt(`0x${start}`), end: BigInt(`0x${end}`) };
}

/** Reads another task's memory through /proc/PID/mem (the reference for process_vm_readv). */
function readProcMem(pid: number, addr: bigint, len: number): Buffer {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    const buf = Buffer.alloc(len);
    expect(readSync(fd, buf, 0, len, addr)).toBe(len);
    return buf;
  } finally {
    closeSync(fd);
  }
}

describe('ids and system facts', () => {
  it('reports our ids and the kernel', () => {
    expect(getpid()).toBe(process.pid);
    expect(gettid()).toBe(process.pid);
    expect(getppid()).toBe(process.ppid);
    const u = uname();
    expect(u.sysname).toBe('Linux');
    expect(u.release).toBe(release());
    expect(u.machine).toBe(hostArch());
  });

  it('prctl reads and sets process attributes', () => {
    expect(prctl(PR.GET_DUMPABLE)).toBe(1n);
    const name = Buffer.alloc(16);
    prctl(PR.GET_NAME, { args: [name] });
    expect(name.subarray(0, name.indexOf(0)).toString()).toBe(readFileSync('/proc/self/comm', 'utf8').trim());
    expect(() => prctl(-1)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'prctl' }));
  });
});

describe('signals', () => {
  it('kill(<free pid>, 0) is ESRCH from kill, naming the pid', () => {
    const pid = freePid();
    let caught: unknown;
    try {
      kill(pid, 0, { what: `check that task ${pid} is alive` });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SysError);
    expect(caught).toMatchObject({ code: 'ESRCH', syscall: 'kill', errno: 3, pid });
    expect((caught as Error).message).toMatch(new RegExp(`^Check that task ${pid} is alive: kill\\(${pid}, 0\\) failed: ESRCH`));
  });

  it('kill and tgkill reach a live target', () => {
    const pid = startSleeper();
    kill(pid, 0);
    tgkill(pid, pid, { signal: 0 });
    expect(() => tgkill(pid, freePid(), { signal: 0 })).toThrow(expect.objectContaining({ code: 'ESRCH', syscall: 'tgkill' }));
    tgkill(pid, pid, { signal: SIG.KILL });
    waitUntil(() => isDead(pid), 'the target to die');
  });
});

describe('pidfds', () => {
  it('pidfd_open + pidfd_send_signal kill a target', () => {
    const pid = startSleeper();
    const pidfd = pidfdOpen(pid);
    try {
      expect(readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8')).toMatch(new RegExp(`^Pid:\\s+${pid}$`, 'm'));
      pidfdSendSignal(pidfd, 0);
      pidfdSendSignal(pidfd, SIG.KILL);
      waitUntil(() => isDead(pid), 'the target to die');
    } finally {
      close(pidfd);
    }
    expect(() => pidfdOpen(freePid())).toThrow(expect.objectContaining({ code: 'ESRCH', syscall: 'pidfd_open' }));
  });

  it('pidfd_getfd copies a target fd into this process', () => {
    const path = join(dir, 'target-file');
    writeFileSync(path, 'held by the target');
    const pid = startSleeper(`7<${path}`);
    const pidfd = pidfdOpen(pid);
    try {
      const fd = pidfdGetfd(pidfd, 7, { what: `take fd 7 of task ${pid}` });
      try {
        expect(fstat(fd).ino).toBe(statSync(path, { bigint: true }).ino);
        expect(readFileSync(`/proc/self/fd/${fd}`, 'utf8')).toBe('held by the target');
      } finally {
        close(fd);
      }
      expect(() => pidfdGetfd(pidfd, 99)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'pidfd_getfd' }));
    } finally {
      close(pidfd);
    }
  });
});

describe('process_vm_readv / process_vm_writev', () => {
  it('reads our own memory into a page-aligned bounce buffer', () => {
    const src = allocPages(3 * 4096);
    const dst = allocPages(3 * 4096);
    try {
      for (let i = 0; i < src.length; i++) src.bytes[i] = (i * 7) & 0xff;
      const n = processVmReadv(getpid(), { local: [dst.range(0, 8192), dst.range(8192, 13)], remote: [src.range(0, 8192), { addr: src.address + 8192n, len: 13 }] });
      expect(n).toBe(8192 + 13);
      expect(Buffer.compare(Buffer.from(dst.bytes.subarray(0, 8205)), Buffer.from(src.bytes.subarray(0, 8205)))).toBe(0);
      // A plain Node Buffer works as the local side too (just slower than page-aligned memory).
      const into = Buffer.alloc(100);
      expect(processVmReadv(getpid(), { local: [into], remote: [src.range(1, 100)] })).toBe(100);
      expect(Buffer.compare(into, Buffer.from(src.bytes.subarray(1, 101)))).toBe(0);
    } finally {
      src.unmap();
      dst.unmap();
    }
  });

  it('reads and writes a child process, and stops short at unmapped memory', () => {
    const pid = startSleeper();
    const exe = findMapping(pid, (l) => l.includes(' r--p 00000000 ') || l.includes(' r-xp 00000000 '));
    const bounce = allocPages(4096);
    try {
      expect(processVmReadv(pid, { local: [bounce.range()], remote: [{ addr: exe.start, len: 4096 }] })).toBe(4096);
      expect(Buffer.from(bounce.bytes.subarray(0, 4)).toString('latin1')).toBe('\x7fELF');
      expect(Buffer.compare(Buffer.from(bounce.bytes), readProcMem(pid, exe.start, 4096))).toBe(0);

      const stack = findMapping(pid, (l) => l.endsWith('[stack]'));
      const target = stack.start + 64n;
      expect(processVmWritev(pid, { local: [Buffer.from('criu-ts was here')], remote: [{ addr: target, len: 16 }] })).toBe(16);
      expect(readProcMem(pid, target, 16).toString()).toBe('criu-ts was here');

      // A range running off the end of the stack: only the mapped part is copied.
      const tail = stack.end - 100n;
      expect(processVmReadv(pid, { local: [bounce.range(0, 200)], remote: [{ addr: tail, len: 200 }] })).toBe(100);
      expect(() => processVmReadv(pid, { local: [bounce.range(0, 8)], remote: [{ addr: 8n, len: 8 }] })).toThrow(
        expect.objectContaining({ code: 'EFAULT', syscall: 'process_vm_readv', pid }),
      );
    } finally {
      bounce.unmap();
    }
    expect(() => processVmReadv(freePid(), { local: [Buffer.alloc(1)], remote: [{ addr: 0x1000n, len: 1 }] })).toThrow(
      expect.objectContaining({ code: 'ESRCH' }),
    );
  });
});

describe('clone3', () => {
  it('builds clone_args with the set_tid array after the struct', () => {
    const block = encodeCloneArgs({ flags: CLONE.PARENT_SETTID | CLONE.INTO_CGROUP, exitSignal: SIG.CHLD, setTid: [1234, 56], cgroup: 9 }, { setTidAddr: 0x7000n });
    expect(block.length).toBe(CLONE_ARGS.size + 8);
    expect(getBig(block, CLONE_ARGS, 'flags')).toBe(0x200100000n);
    expect(getBig(block, CLONE_ARGS, 'exit_signal')).toBe(17n);
    expect(getBig(block, CLONE_ARGS, 'set_tid')).toBe(0x7000n);
    expect(getBig(block, CLONE_ARGS, 'set_tid_size')).toBe(2n);
    expect(getBig(block, CLONE_ARGS, 'cgroup')).toBe(9n);
    expect([block.readInt32LE(88), block.readInt32LE(92)]).toEqual([1234, 56]);
  });

  it('rejects bad arguments with EINVAL instead of creating a task', () => {
    const bad: Array<[string, () => number]> = [
      ['size below VER0', () => clone3({ exitSignal: SIG.CHLD }, { size: 8 })],
      ['CLONE_SIGHAND with CLONE_CLEAR_SIGHAND', () => clone3({ flags: CLONE.SIGHAND | CLONE.CLEAR_SIGHAND | CLONE.VM })],
      ['exit signal beyond CSIGNAL', () => clone3({ exitSignal: 0x100 })],
      ['more set_tid levels than pid namespaces can nest', () => clone3({ setTid: new Array<number>(33).fill(1) })],
    ];
    for (const [why, call] of bad) {
      let caught: unknown;
      try {
        call();
      } catch (err) {
        caught = err;
      }
      expect({ why, code: (caught as SysError | undefined)?.code, syscall: (caught as SysError | undefined)?.syscall }).toEqual({
        why,
        code: 'EINVAL',
        syscall: 'clone3',
      });
    }
  });
});
