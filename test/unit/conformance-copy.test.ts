import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHARED_CONFORMANCE_DIR, VENDORED_CONFORMANCE_DIR } from '../support/paths.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('our copy of the conformance sets', () => {
  it.runIf(existsSync(SHARED_CONFORMANCE_DIR))('is the same as ../shared/conformance, file for file', () => {
    const shared = files(SHARED_CONFORMANCE_DIR).map((f) => relative(SHARED_CONFORMANCE_DIR, f)).sort();
    const ours = files(VENDORED_CONFORMANCE_DIR).map((f) => relative(VENDORED_CONFORMANCE_DIR, f)).sort();
    expect(ours).toEqual(shared);
    for (const name of shared) {
      expect(readFileSync(join(VENDORED_CONFORMANCE_DIR, name)).equals(readFileSync(join(SHARED_CONFORMANCE_DIR, name))), name).toBe(true);
    }
  });

  it('holds the four sets with images and decoded JSON', () => {
    for (const set of ['sleep', 'bash-loop', 'pipeline', 'python-state']) {
      expect(readdirSync(join(VENDORED_CONFORMANCE_DIR, set, 'images'))).toContain('inventory.img');
      expect(readdirSync(join(VENDORED_CONFORMANCE_DIR, set, 'decoded'))).toContain('inventory.img.json');
    }
  });
});
