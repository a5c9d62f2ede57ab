import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KobjIds } from '../../src/dump/ids.js';
import { CONFORMANCE_DIR } from '../support/paths.js';
import { killAllPrograms, startProgram, workDir } from '../support/programs.js';

afterAll(() => killAllPrograms());

describe('kernel object ids', () => {
  it('numbers like CRIU: the dumper first, each kind on its own, shared objects shared', () => {
    const target = startProgram('files_state', { args: [join(workDir(), 'ids-data')] });
    const child = Number(target.waitOutput(/child (\d+)/)[1]);
    const ids = new KobjIds();
    const parent = ids.idsOf(target.pid);
    const kid = ids.idsOf(child);
    // The same shape CRIU 4.2 gave the two tasks of its bash-loop set (bash and its sleep child).
    const criu = (name: string) => JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'bash-loop', 'decoded', name), 'utf8')).entries[0];
    expect(ids.dumper).toEqual(criu('inventory.img.json').root_ids);
    expect(parent).toEqual(criu('ids-14711.img.json'));
    expect(kid).toEqual(criu('ids-14834.img.json'));
    // The same task again gets the same ids.
    expect(ids.idsOf(target.pid)).toEqual(parent);
  });
});
