// MEMORY on a target holding a few hundred MiB of a known pattern: every byte lands in the output
// file in order, and the throughput is measured against a plain process_vm_readv copy into
// page-aligned memory of the same target (both printed; the numbers depend on the machine's load).
import { closeSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Parasite } from '../../src/infect/index.js';
import { freezeTree } from '../../src/ptrace/index.js';
import { allocPages, hostArch, memfdCreate, MFD, O, open, processVmReadv, write } from '../../src/sys/index.js';
import { checkPattern } from '../support/parasite_target.js';
import { cleanupPrograms, killAllPrograms, startProgram, workDir } from '../support/programs.js';

const MIB = 256;
afterEach(() => killAllPrograms());
afterAll(() => cleanupPrograms());


function rate(bytes: number, ms: number): string {
  return `${(bytes / 1048576 / (ms / 1000)).toFixed(0)} MiB/s`;
}

describe.runIf(hostArch() === 'x86_64')('MEMORY', () => {
  it(`moves ${MIB} MiB of a live task in order, and is measured against process_vm_readv`, () => {
    const target = startProgram('parasite_target', { args: [join(workDir(), 'memory-marker'), '--mem', String(MIB), '--mode', 'spin'], readyTimeoutMs: 30_000 });
    const facts = target.waitOutput(/^READY .*mem=(0x[0-9a-f]+) len=(\d+)/m);
    const mem = BigInt(facts[1]!);
    const len = Number(facts[2]);
    const tree = freezeTree(target.pid);
    const parasite = Parasite.infect(tree.tracee(target.pid)!);
    const path = join(workDir(), 'pages-memory.img');
    try {
      // Into a file, in three ranges (1 MiB pipe, 512 KiB batches).
      const third = BigInt(Math.floor(len / 3 / 4096) * 4096);
      const ranges = [
        { addr: mem, len: third },
        { addr: mem + third, len: third },
        { addr: mem + 2n * third, len: BigInt(len) - 2n * third },
      ];
      let out = open(path, { flags: O.WRONLY | O.CREAT | O.TRUNC });
      let t0 = performance.now();
      const r = parasite.memory(ranges, { outFd: out });
      const fileMs = performance.now() - t0;
      closeSync(out);
      expect(r).toMatchObject({ bytes: len, commands: 1, replies: len / (512 * 1024) });
      expect(r.failed).toBeUndefined();
      expect(statSync(path).size).toBe(len);
      checkPattern(readFileSync(path));
      rmSync(path);

      // Into a memfd (a copy into memory, like process_vm_readv's), whole-pipe batches.
      out = memfdCreate('criu-ts-pages', { flags: MFD.CLOEXEC });
      t0 = performance.now();
      const m = parasite.memory([{ addr: mem, len: BigInt(len) }], { outFd: out, batchBytes: 1 << 20 });
      const memfdMs = performance.now() - t0;
      closeSync(out);
      expect(m.bytes).toBe(len);

      // Into /dev/null (the transfer alone, no copy at all), whole-pipe batches.
      out = open('/dev/null', { flags: O.WRONLY });
      t0 = performance.now();
      const n = parasite.memory([{ addr: mem, len: BigInt(len) }], { outFd: out, batchBytes: 1 << 20 });
      const nullMs = performance.now() - t0;
      closeSync(out);
      expect(n.bytes).toBe(len);

      // process_vm_readv into page-aligned memory, then write() to a file.
      const buf = allocPages(len, { populate: true });
      t0 = performance.now();
      const chunk = 1 << 20;
      for (let off = 0; off < len; off += chunk) processVmReadv(target.pid, { local: [buf.range(off, chunk)], remote: [{ addr: mem + BigInt(off), len: chunk }] });
      const pvrMs = performance.now() - t0;
      out = open(path, { flags: O.WRONLY | O.CREAT | O.TRUNC });
      t0 = performance.now();
      for (let off = 0; off < len; off += chunk) write(out, buf.bytes.subarray(off, off + chunk));
      const writeMs = performance.now() - t0;
      closeSync(out);
      checkPattern(buf.bytes.subarray(0, len));
      buf.unmap();
      console.log(
        `MEMORY ${MIB} MiB: parasite vmsplice -> splice into a memfd ${rate(len, memfdMs)}, to a file ${rate(len, fileMs)}, to /dev/null ${rate(len, nullMs)}; ` +
          `process_vm_readv into page-aligned memory ${rate(len, pvrMs)}, + write() to a file ${rate(len, pvrMs + writeMs)}`,
      );
    } finally {
      rmSync(path, { force: true });
      parasite.cure();
    }
    tree.thaw();
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/^(PASS|FAIL)$/m, 20_000);
    expect(target.out()).toMatch(/^PASS$/m);
  });
});
