/** x86_64 thread state ↔ CRIU's thread_info_x86, on a live thread and against CRIU 4.2's images. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gpregsFromImage, gpregsToImage, tlsToImage, xstateFeatures, xstateFromImage, xstateToImage } from '../../arch/x86_64/core_state.js';
import { freezeTree } from '../../src/ptrace/index.js';
import { SCHEMA } from '../../src/images/generated/schema.js';
import { messageToJson } from '../../src/images/crit_json.js';
import { ptrace } from '../../src/sys/index.js';
import { CONFORMANCE_DIR } from '../support/paths.js';
import { killAllPrograms, startProgram } from '../support/programs.js';

afterAll(() => killAllPrograms());

const PTRACE_GET_THREAD_AREA = 25;

describe.runIf(process.arch === 'x64')('x86_64 core state', () => {
  it('round-trips a live thread: registers, xstate, TLS', () => {
    const target = startProgram('busy');
    const tree = freezeTree(target.pid);
    try {
      const tracee = tree.tracee(target.pid)!;
      const regs = tracee.getRegs();
      const image = gpregsToImage(regs);
      expect(image.ip).toBe(regs['rip']);
      expect(image.mode).toBe(1);
      expect(gpregsFromImage(image)).toEqual(Object.fromEntries(Object.entries(regs).map(([k, v]) => [k, BigInt.asUintN(64, v)])));

      const xstate = tracee.getXstate();
      const fp = xstateToImage(xstate);
      const back = xstateFromImage(fp, xstate.length);
      // Legacy area (minus the software-reserved bytes), header's xstate_bv and every component.
      expect(Buffer.from(back.subarray(0, 464))).toEqual(Buffer.from(xstate.subarray(0, 464)));
      expect(Buffer.from(back.subarray(512, 520))).toEqual(Buffer.from(xstate.subarray(512, 520)));
      expect(Buffer.from(back.subarray(576))).toEqual(Buffer.from(xstate.subarray(576)));
      expect(xstateFeatures(xstate) & 3n).toBe(3n);

      const descs = [12, 13, 14].map((idx) => {
        const d = new Uint8Array(16);
        ptrace(PTRACE_GET_THREAD_AREA, target.pid, { addr: idx, data: d });
        return d;
      });
      const criuTls = JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'python-state', 'decoded', 'core-15368.img.json'), 'utf8')).entries[0].thread_info.tls;
      expect(tlsToImage(descs)).toEqual(criuTls);
    } finally {
      tree.thaw();
    }
  });

  it('writes the xsave parts CRIU 4.2 wrote on this kind of machine', () => {
    const target = startProgram('busy');
    const tree = freezeTree(target.pid);
    let fp;
    try {
      fp = xstateToImage(tree.tracee(target.pid)!.getXstate());
    } finally {
      tree.thaw();
    }
    const criu = JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'python-state', 'decoded', 'core-15368.img.json'), 'utf8')).entries[0].thread_info.fpregs;
    const ours = messageToJson(SCHEMA, 'user_x86_fpregs_entry', fp as never, true, false) as Record<string, Record<string, unknown>>;
    expect(Object.keys(ours)).toEqual(Object.keys(criu));
    // MPX and PKRU appear only when not in their initial state (CRIU's images of ordinary tasks lack them).
    const keys = Object.keys(ours['xsave']!).filter((k) => !['bndreg_state', 'bndcsr_state', 'pkru'].includes(k));
    expect(keys).toEqual(Object.keys(criu.xsave));
  });
});
