/** Dumping epoll fds: every target with its events and data, checked against fdinfo and the program. */
import { statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DumpError, dumpTree } from '../../src/dump/dump.js';
import { FdTypes } from '../../src/images/generated/types.js';
import { decodeWithBothCrits, dumpRunning, expectPass, fdinfoText, kdev, removeDumps } from '../support/fd_dump.js';
import { killAllPrograms, startProgram, workDir } from '../support/programs.js';

afterAll(() => {
  killAllPrograms();
  removeDumps();
});

const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLERR = 0x8;
const EPOLLHUP = 0x10;
const EPOLLRDHUP = 0x2000;
const EPOLLONESHOT = 1 << 30;
const EPOLLET = 2 ** 31;

/** The tfd lines of fdinfo, read independently of src/proc. */
function fdinfoTargets(pid: number, fd: number) {
  return [...fdinfoText(pid, fd).matchAll(/^tfd:\s+(\d+) events:\s+([0-9a-f]+) data:\s+([0-9a-f]+)\s+pos:(\d+) ino:([0-9a-f]+) sdev:([0-9a-f]+)$/gm)].map((m) => ({
    tfd: Number(m[1]),
    events: parseInt(m[2]!, 16),
    data: BigInt('0x' + m[3]),
    pos: BigInt(m[4]!),
    inode: BigInt('0x' + m[5]),
    dev: parseInt(m[6]!, 16),
  }));
}

describe('epoll dump', () => {
  it('writes each epoll with every target: fd, events, data, and the target file', async () => {
    const target = startProgram('epoll_state');
    const before = fdinfoTargets(target.pid, 6);
    const dump = await dumpRunning(target.pid);
    const fds = dump.fds(target.pid);
    expect(fds.get(6)).toMatchObject({ type: FdTypes.EVENTPOLL, flags: 1 });
    expect(fds.get(7)).toMatchObject({ type: FdTypes.EVENTPOLL, flags: 0 });

    const ep = dump.file(target.pid, 6);
    expect(ep.type).toBe(FdTypes.EVENTPOLL);
    expect(ep.epfd).toMatchObject({ id: ep.id, flags: 2 /* O_RDWR */, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 } });
    // What the program asked for (the kernel adds EPOLLERR|EPOLLHUP to every registration).
    const always = EPOLLERR | EPOLLHUP;
    const want = new Map([
      [3, { events: (EPOLLIN | EPOLLET | always) >>> 0, data: 0x1122334455667788n }],
      [4, { events: EPOLLOUT | always, data: 7n }],
      [5, { events: (EPOLLIN | EPOLLONESHOT | EPOLLRDHUP | always) >>> 0, data: 0xdeadbeefcafen }],
    ]);
    const tfds = ep.epfd!.tfd!;
    expect(tfds.map((t) => t.tfd).sort()).toEqual([3, 4, 5]);
    for (const t of tfds) {
      expect({ tfd: t.tfd, events: t.events, data: t.data }).toEqual({ tfd: t.tfd, ...want.get(t.tfd) });
      // The target file: its inode and superblock device as stat() tells them.
      const st = statSync(`/proc/${target.pid}/fd/${t.tfd}`, { bigint: true });
      expect({ id: t.id, inode: t.inode, dev: t.dev, pos: t.pos }).toEqual({ id: ep.id, inode: st.ino, dev: kdev(st.dev), pos: 0n });
    }
    // In fdinfo's order, field for field.
    expect(tfds.map(({ tfd, events, data, pos, inode, dev }) => ({ tfd, events, data, pos, inode, dev }))).toEqual(before);

    // An epoll watching an epoll.
    const outer = dump.file(target.pid, 7).epfd!;
    expect(outer.tfd).toEqual([
      { id: outer.id, tfd: 6, events: EPOLLIN | always, data: 42n, dev: expect.any(Number), inode: expect.any(BigInt), pos: 0n },
    ]);

    // Debian's crit reads the same list.
    const crit = decodeWithBothCrits(dump.dir, /^(files|fdinfo-\d+)\.img$/).get('files.img')!;
    const critEp = crit.entries.find((e) => e['id'] === ep.id) as { epfd: { tfd: Array<{ tfd: number; data: number }> } };
    expect(critEp.epfd.tfd.map((t) => t.tfd)).toEqual(tfds.map((t) => t.tfd));

    // The task runs on with its epolls as they were.
    expectPass(target);
  });

  it('refuses an epoll whose target fd was closed, naming the task and the epoll fd', async () => {
    const target = startProgram('epoll_state', { args: ['stale'] });
    const stale = target.waitOutput(/stale (\d+)/)[1];
    let error: unknown;
    try {
      await dumpTree(target.pid, { imagesDir: `${workDir()}/stale-epoll`, after: 'leave-running' });
    } catch (err) {
      error = err;
    }
    expect(error).not.toBeInstanceOf(DumpError);
    expect((error as { code: string }).code).toBe('FD_TARGET_MISSING');
    expect((error as Error).message).toMatch(new RegExp(`^task ${target.pid}, fd 6: epoll target fd ${stale} is not open in the task`));
    expectPass(target);
  });
});
