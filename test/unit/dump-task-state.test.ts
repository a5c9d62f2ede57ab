import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCreds, readLoginuid, readOomScoreAdj, readRlimits, readSched } from '../../src/dump/task_state.js';
import { CONFORMANCE_DIR } from '../support/paths.js';
import { killAllPrograms, startProgram, workDir } from '../support/programs.js';

afterAll(() => killAllPrograms());

const criuCore = JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'sleep', 'decoded', 'core-15349.img.json'), 'utf8')).entries[0];

describe('task state read from outside', () => {
  const target = startProgram('files_state', { args: [join(workDir(), 'state-data')] });

  it('gives credentials shaped as CRIU wrote them for a root task', () => {
    expect(readCreds(target.pid, target.pid)).toEqual(criuCore.thread_core.creds);
  });

  it('gives resource limits, in RLIMIT order, matching /proc', () => {
    const limits = readRlimits(target.pid);
    expect(limits).toHaveLength(16);
    const nofile = readFileSync(`/proc/${target.pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'))!;
    const [, soft, hard] = /(\d+)\s+(\d+)/.exec(nofile)!;
    expect(limits[7]).toEqual({ cur: BigInt(soft!), max: BigInt(hard!) });
  });

  it('gives scheduling, loginuid and oom_score_adj', () => {
    expect(readSched(target.pid)).toEqual({ sched_policy: criuCore.thread_core.sched_policy, sched_nice: criuCore.thread_core.sched_nice });
    expect(readLoginuid(target.pid)).toBe(criuCore.tc.loginuid);
    expect(readOomScoreAdj(target.pid)).toBe(criuCore.tc.oom_score_adj);
  });
});
