import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBuildId } from '../../src/dump/build_id.js';
import { CONFORMANCE_DIR } from '../support/paths.js';

describe('ELF build-id', () => {
  it('is what CRIU 4.2 stored for the same binaries', () => {
    const files = JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'sleep', 'decoded', 'files.img.json'), 'utf8')).entries;
    const withId = files.filter((f: { reg?: { build_id?: number[] } }) => f.reg?.build_id);
    expect(withId.length).toBe(3);
    for (const f of withId) expect(readBuildId(f.reg.name)).toEqual(f.reg.build_id);
  });

  it('is absent for files that are not ELF or do not exist', () => {
    expect(readBuildId('/usr/lib/locale/C.utf8/LC_CTYPE')).toBeUndefined();
    expect(readBuildId('/dev/null')).toBeUndefined();
    expect(readBuildId('/nonexistent')).toBeUndefined();
  });
});
