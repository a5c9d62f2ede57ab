/**
 * criu-ts dump end to end, on real targets: the images say what /proc says, Debian's crit reads
 * them, the memory in pages-N.img is the task's memory, and every failure leaves the tree running
 * as it was with no images landed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageDir } from '../../src/images/image_dir.js';
import { readEntries, readEntriesWithExtra, readPagemap, readSingle, pagemapEntryPages } from '../../src/images/typed.js';
import { IMAGE_FILES, imageFileKind } from '../../src/images/image_files.js';
import { CRIU_TS } from '../support/paths.js';
import { isDead, killAllPrograms, signalProgram, startProgram, waitFor, workDir } from '../support/programs.js';
import { criuTsOk } from '../support/restore.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-dump-'));
afterAll(() => {
  killAllPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

function criuTs(args: string[]) {
  const res = spawnSync(process.execPath, [CRIU_TS, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function tracerOf(pid: number): number {
  return Number(/TracerPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

function readMem(pid: number, addr: bigint, len: number): Buffer {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, Number(addr));
    return buf;
  } finally {
    closeSync(fd);
  }
}

describe('criu-ts dump', () => {
  it('writes images that match the running task (--leave-running)', () => {
    const dataFile = join(workDir(), 'dump-data');
    const target = startProgram('dump_target', { args: ['4', dataFile] });
    const [, addrHex, bytesText] = target.waitOutput(/pattern ([0-9a-f]+) (\d+)/);
    const patternAddr = BigInt('0x' + addrHex);
    const dir = join(scratch, 'leave-running');
    criuTsOk(['dump', '-t', String(target.pid), '-D', dir, '-R', '-o', 'dump.log']);
    expect(tracerOf(target.pid)).toBe(0);

    const images = ImageDir.open(dir);
    const threads = readdirSync(`/proc/${target.pid}/task`).map(Number).sort((a, b) => a - b);
    const [task] = readEntries(images, 'pstree');
    expect(task).toMatchObject({ pid: target.pid, ppid: 0, pgid: target.pid, sid: target.pid, threads });
    for (const tid of threads) expect(images.has(`core-${tid}.img`)).toBe(true);

    // Every image decodes with Debian's crit 3.17 too (pages are raw).
    for (const name of readdirSync(dir)) {
      const kind = imageFileKind(name);
      if (!kind || IMAGE_FILES[kind.key].magic === 'RAW') continue;
      const res = spawnSync('crit', ['decode', '-i', join(dir, name)], { encoding: 'utf8' });
      expect(res.status, `crit decode ${name}: ${res.stderr}`).toBe(0);
    }

    const core = readSingle(images, 'core', target.pid);
    // The program blocks SIGUSR2 and SIGTERM (it waits for SIGTERM in sigsuspend, which is why
    // /proc shows only SIGUSR2 while it sleeps: the image keeps the mask outside the syscall).
    expect(core.tc!.blk_sigset).toBe((1n << 11n) | (1n << 14n));
    const SIGUSR1 = 10;
    const SIGUSR2 = 12;
    // sigactions skip SIGKILL (9) and SIGSTOP (19): SIGUSR1 (10) is the 9th entry.
    expect(core.tc!.sigactions).toHaveLength(62);
    expect(core.tc!.sigactions![SIGUSR1 - 2]!.sigaction).not.toBe(0n);
    expect(core.tc!.blk_sigset & (1n << BigInt(SIGUSR2 - 1))).not.toBe(0n);
    expect(core.tc!.comm).toBe('dump_target');

    // The pattern is in pages-N.img, byte for byte as the task has it.
    const pagemap = readPagemap(images, target.pid);
    let offset = 0n;
    let checked = 0;
    const pages = readFileSync(join(dir, `pages-${pagemap.head.pages_id}.img`));
    for (const e of pagemap.entries) {
      const len = pagemapEntryPages(e) * 4096n;
      if (e.vaddr <= patternAddr && e.vaddr + len > patternAddr) {
        const start = Number(offset + (patternAddr - e.vaddr));
        const chunk = Math.min(Number(bytesText), Number(e.vaddr + len - patternAddr));
        expect(pages.subarray(start, start + chunk).equals(readMem(target.pid, patternAddr, chunk))).toBe(true);
        checked += chunk;
      }
      offset += len;
    }
    expect(checked).toBe(Number(bytesText));
    expect(BigInt(pages.length)).toBe(offset);

    // Files: the pipe's data and the file's offset.
    const [pipeData] = readEntriesWithExtra(images, 'pipesData');
    expect(Buffer.from(pipeData!.extra as Uint8Array).toString()).toBe('dump me');
    const files = readEntries(images, 'files');
    expect(files.find((f) => f.reg?.name === dataFile)?.reg?.pos).toBe(42n);

    // The task goes on unharmed.
    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  it('kills the tree after a dump by default, and the log lands in the images directory', () => {
    const target = startProgram('dump_target', { args: ['1'] });
    const dir = join(scratch, 'kill');
    const pidfile = join(scratch, 'kill.pid');
    const out = criuTs(['dump', '-t', String(target.pid), '-D', dir, '-o', 'dump.log', '--timeout', '5', '--pidfile', pidfile]);
    expect(out.status).toBe(0);
    expect(readFileSync(pidfile, 'utf8')).toBe(`${target.pid}\n`);
    waitFor(() => isDead(target.pid), `task ${target.pid} to die`);
    // stats-dump counts exactly the pages the pages files hold.
    const images = ImageDir.open(dir);
    const stats = images.readKind('stats', 'dump').entries[0]!.message as { dump: { pages_written: bigint; pages_scanned: bigint } };
    const pagemap = readPagemap(images, target.pid);
    const listed = pagemap.entries.reduce((n, e) => n + pagemapEntryPages(e), 0n);
    expect(stats.dump.pages_written).toBe(listed);
    expect(BigInt(readFileSync(join(dir, `pages-${pagemap.head.pages_id}.img`)).length)).toBe(listed * 4096n);
    expect(stats.dump.pages_scanned).toBeGreaterThanOrEqual(listed);
    expect(readFileSync(join(dir, 'dump.log'), 'utf8')).toMatch(/dump finished: 1 task/);
    expect(existsSync(join(dir, 'inventory.img'))).toBe(true);
  });

  it('refuses an fd it cannot dump before landing anything, and the task runs on', () => {
    const target = startProgram('sock_holder');
    const dir = join(scratch, 'unsupported');
    const out = criuTs(['dump', '-t', String(target.pid), '-D', dir]);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`task ${target.pid}, fd 3: socket socket:\\[\\d+\\].*\\[FD_UNSUPPORTED\\]`));
    expect(isDead(target.pid)).toBe(false);
    expect(tracerOf(target.pid)).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
    // No parasite left mapped: its area is a shared anonymous mapping of the task.
    expect(readFileSync(`/proc/${target.pid}/maps`, 'utf8')).not.toMatch(/ rwxs /);
  });

  it('stops cleanly on SIGINT: no images, the task runs on untouched', async () => {
    const target = startProgram('dump_target', { args: ['256'] });
    const dir = join(scratch, 'interrupted');
    const child = spawn(process.execPath, [CRIU_TS, 'dump', '-t', String(target.pid), '-D', dir, '-R', '-v4'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && /froze/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/\[DUMP_INTERRUPTED\]/);
    expect(existsSync(join(dir, 'inventory.img'))).toBe(false);
    expect(readdirSync(dir).filter((n) => !n.startsWith('.'))).toEqual([]);
    expect(tracerOf(target.pid)).toBe(0);
    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/, 20_000);
  });

  it('fails cleanly when the disk is full', () => {
    const mount = join(scratch, 'tiny');
    spawnSync('mkdir', ['-p', mount]);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mount]).status === 0;
    expect(mounted).toBe(true);
    try {
      const target = startProgram('dump_target', { args: ['4'] });
      const out = criuTs(['dump', '-t', String(target.pid), '-D', join(mount, 'images'), '-R']);
      expect(out.status).toBe(1);
      expect(out.stderr).toMatch(/ENOSPC|no space/i);
      expect(existsSync(join(mount, 'images', 'inventory.img'))).toBe(false);
      expect(readdirSync(join(mount, 'images'))).toEqual([]);
      expect(tracerOf(target.pid)).toBe(0);
      signalProgram(target, 'SIGTERM');
      target.waitOutput(/PASS/);
    } finally {
      spawnSync('umount', [mount]);
    }
  });
});

describe('criu-ts dump: shared memory and zombies', () => {
  it('dumps a shared anonymous segment once, with only its populated pages, and a zombie as its exit status', () => {
    const target = startProgram('shm_zombie');
    const [, , childText, zombieText] = target.waitOutput(/shm ([0-9a-f]+) child (\d+) zombie (\d+)/);
    const child = Number(childText);
    const zombie = Number(zombieText);
    const dir = join(scratch, 'shm-zombie');
    criuTsOk(['dump', '-t', String(target.pid), '-D', dir, '-R']);
    const images = ImageDir.open(dir);
    const tree = readEntries(images, 'pstree');
    expect(tree.map((t) => t.pid).sort()).toEqual([target.pid, child, zombie].sort());
    expect(tree.find((t) => t.pid === zombie)).toMatchObject({ ppid: target.pid, threads: [zombie] });
    const zcore = readSingle(images, 'core', zombie);
    expect(zcore.tc).toMatchObject({ task_state: 6, comm: 'shm_zombie' });
    expect(zcore.thread_info).toBeUndefined();

    // One segment, in both tasks' VMAs with the same shmid, dumped once.
    const shm = readSingle(images, 'mm', target.pid).vmas!.filter((v) => v.status & (1 << 8));
    expect(shm).toHaveLength(1);
    expect(readSingle(images, 'mm', child).vmas!.filter((v) => v.status & (1 << 8)).map((v) => v.shmid)).toEqual([shm[0]!.shmid]);
    const shmemMaps = readdirSync(dir).filter((n) => n.startsWith('pagemap-shmem-'));
    expect(shmemMaps).toEqual([`pagemap-shmem-${shm[0]!.shmid}.img`]);
    const [head, ...runs] = images.read(shmemMaps[0]!).entries.map((e) => e.message as Record<string, bigint | number>);
    expect(runs.map((r) => [r['vaddr'], r['nr_pages']])).toEqual([[0n, 100n], [200n * 4096n, 10n]]);
    const pages = readFileSync(join(dir, `pages-${head!['pages_id']}.img`));
    expect(pages.length).toBe(110 * 4096);
    expect(pages[0]).toBe(1);
    expect(pages[99 * 4096]).toBe(100);
    expect(pages[100 * 4096]).toBe(0xc0);
    expect(pages[109 * 4096 + 4095]).toBe(0xc9);

    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/);
  });
});

describe('criu-ts dump --leave-stopped', () => {
  it('leaves every task of the tree stopped, and SIGCONT lets it go on', () => {
    const target = startProgram('dump_target', { args: ['1'] });
    const dir = join(scratch, 'leave-stopped');
    const out = criuTs(['dump', '-t', String(target.pid), '-D', dir, '--leave-stopped']);
    expect(out.status).toBe(0);
    waitFor(() => /State:\s+T/.test(readFileSync(`/proc/${target.pid}/status`, 'utf8')), `task ${target.pid} to be stopped`);
    expect(tracerOf(target.pid)).toBe(0);
    process.kill(target.pid, 'SIGCONT');
    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/);
  });
});

describe('criu-ts dump: seccomp', () => {
  it('writes each filter once, chained as the threads hold them, and the tasks keep their filters', () => {
    const target = startProgram('seccomp_target');
    const child = Number(target.waitOutput(/child (\d+)/)[1]);
    const dir = join(scratch, 'seccomp');
    criuTsOk(['dump', '-t', String(target.pid), '-D', dir, '-R']);
    const images = ImageDir.open(dir);
    const [entry] = readEntries(images, 'seccomp');
    const filters = entry!.seccomp_filters!;
    expect(filters.map((f) => [f.filter.length, f.prev])).toEqual([[8, undefined], [32, 0]]);
    expect(readSingle(images, 'core', target.pid).thread_core).toMatchObject({ seccomp_mode: 2, seccomp_filter: 0 });
    expect(readSingle(images, 'core', child).thread_core).toMatchObject({ seccomp_mode: 2, seccomp_filter: 1 });
    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/);
  });
});

describe('criu-ts dump: a task that dies mid-dump', () => {
  it('fails the dump, lands no images, and lets the rest of the tree go untouched', async () => {
    const { dumpTree } = await import('../../src/dump/dump.js');
    const target = startProgram('files_state', { args: [join(workDir(), 'dies-data')] });
    const child = Number(target.waitOutput(/child (\d+)/)[1]);
    const dir = join(scratch, 'dies');
    let error: unknown;
    try {
      await dumpTree(target.pid, {
        imagesDir: dir,
        after: 'leave-running',
        beforeTask: (pid) => {
          if (pid === child) process.kill(child, 'SIGKILL');
        },
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeDefined();
    expect((error as { code?: string }).code).toMatch(/^(TASK_DIED|TASK_GONE|PROC_GONE|ESRCH|FD_GONE)$/);
    expect(existsSync(join(dir, 'inventory.img'))).toBe(false);
    expect(isDead(target.pid)).toBe(false);
    expect(tracerOf(target.pid)).toBe(0);
    expect(readFileSync(`/proc/${target.pid}/maps`, 'utf8')).not.toMatch(/ rwxs /);
  });
});
