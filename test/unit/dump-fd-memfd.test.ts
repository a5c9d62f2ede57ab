/** Dumping memfds: the open files, one inode entry each with its seals, and its pages as shmem. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FdTypes } from '../../src/images/generated/types.js';
import { pagemapEntryPages, readEntries, readSingle } from '../../src/images/typed.js';
import { decodeWithBothCrits, dumpRunning, expectPass, fdinfoText, removeDumps } from '../support/fd_dump.js';
import { killAllPrograms, startProgram } from '../support/programs.js';

afterAll(() => {
  killAllPrograms();
  removeDumps();
});

const O_CLOEXEC = 0o2000000;
const F_SEAL_SEAL = 1;
const F_SEAL_SHRINK = 2;
const F_SEAL_GROW = 4;
const PE_PRESENT = 1 << 2;
const PAGE = 4096;

describe('memfd dump', () => {
  it('writes each open memfd, each inode once with its seals, and the populated pages', async () => {
    const target = startProgram('memfd_state');
    const size = BigInt(target.waitOutput(/memfd (\d+)/)[1]!);
    const stats = [3, 4, 5, 6].map((fd) => statSync(`/proc/${target.pid}/fd/${fd}`, { bigint: true }));
    const dump = await dumpRunning(target.pid);
    const fds = dump.fds(target.pid);
    expect([3, 4, 5, 6].map((fd) => fds.get(fd)!.type)).toEqual(Array(4).fill(FdTypes.MEMFD));

    // The open files: flags and offset as fdinfo says, the inode they share.
    const flagsOf = (fd: number) => parseInt(/^flags:\s+([0-7]+)$/m.exec(fdinfoText(target.pid, fd))![1]!, 8) & ~O_CLOEXEC;
    const mf = [3, 4, 5, 6].map((fd) => dump.file(target.pid, fd));
    expect(mf.map((f) => f.memfd)).toEqual([
      { id: mf[0]!.id, flags: flagsOf(3), pos: 1234n, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 }, inode_id: 1 },
      { id: mf[1]!.id, flags: flagsOf(4), pos: 0n, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 }, inode_id: 1 },
      { id: mf[2]!.id, flags: flagsOf(5), pos: 0n, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 }, inode_id: 2 },
      { id: mf[3]!.id, flags: flagsOf(6), pos: 0n, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 }, inode_id: 3 },
    ]);
    expect(mf[1]!.memfd!.flags & 3).toBe(0); // the second open is read-only

    // memfd.img: one entry per inode, as stat() and the program say.
    const inode = (i: number) => stats[i === 1 ? 0 : i === 2 ? 2 : 3]!;
    expect(readEntries(dump.images, 'memfd')).toEqual([
      { name: 'criu-ts memfd', uid: 0, gid: 0, size, shmid: Number(inode(1).ino), seals: F_SEAL_SHRINK | F_SEAL_GROW, inode_id: 1n, mode: 0o100640 },
      { name: 'mapped', uid: 0, gid: 0, size: 8192n, shmid: Number(inode(2).ino), seals: F_SEAL_SEAL, inode_id: 2n, mode: Number(inode(2).mode) },
      { name: 'empty', uid: 0, gid: 0, size: 0n, shmid: Number(inode(3).ino), seals: F_SEAL_SEAL, inode_id: 3n, mode: Number(inode(3).mode) },
    ]);

    // The contents: only the populated pages (0-1 and 10), byte for byte as the task reads them.
    const shmid = inode(1).ino;
    const pm = dump.images.readKind('shmemPagemap', shmid).entries;
    const head = pm[0]!.message as { pages_id: number };
    const runs = pm.slice(1).map((e) => e.message as { vaddr: bigint; nr_pages: bigint; flags: number });
    expect(runs.map((r) => ({ vaddr: r.vaddr, nr_pages: r.nr_pages, flags: r.flags }))).toEqual([
      { vaddr: 0n, nr_pages: 2n, flags: PE_PRESENT },
      { vaddr: 40960n, nr_pages: 1n, flags: PE_PRESENT },
    ]);
    const pages = readFileSync(join(dump.dir, `pages-${head.pages_id}.img`));
    const live = readFileSync(`/proc/${target.pid}/fd/4`);
    expect(pages.length).toBe(3 * PAGE);
    expect(pages.subarray(0, 2 * PAGE).equals(live.subarray(0, 2 * PAGE))).toBe(true);
    expect(pages.subarray(2 * PAGE).equals(live.subarray(40960, 40960 + PAGE))).toBe(true);
    expect(pages[0]).toBe(3);

    // The mapped memfd is dumped once, with its mapping (same shmid); the empty one not at all.
    const mappedId = inode(2).ino;
    const mm = readSingle(dump.images, 'mm', target.pid);
    expect((mm.vmas ?? []).filter((v) => v.shmid === mappedId)).toHaveLength(1);
    expect(existsSync(join(dump.dir, `pagemap-shmem-${mappedId}.img`))).toBe(true);
    expect(existsSync(join(dump.dir, `pagemap-shmem-${inode(3).ino}.img`))).toBe(false);
    const pagesOf = (id: bigint) => dump.images.readKind('shmemPagemap', id).entries.slice(1).reduce((m, e) => m + pagemapEntryPages(e.message as never), 0n);
    const shmemPages = pagesOf(shmid) + pagesOf(mappedId);
    const statsDump = dump.images.readKind('stats', 'dump').entries[0]!.message as { dump: { shpages_written: bigint } };
    expect(statsDump.dump.shpages_written).toBe(shmemPages);

    const crit = decodeWithBothCrits(dump.dir, /^(files|fdinfo-\d+|memfd|pagemap-shmem-\d+)\.img$/);
    expect(crit.get('memfd.img')!.entries.map((e) => e['name'])).toEqual(['criu-ts memfd', 'mapped', 'empty']);

    expectPass(target);
  });
});
