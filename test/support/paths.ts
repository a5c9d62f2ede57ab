import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared image sets written by upstream CRIU 4.2 (see ../shared/conformance/README.md). */
export const SHARED_CONFORMANCE_DIR = resolve(REPO_ROOT, '..', 'shared', 'conformance');

/** Our copy of those sets, so that the tests run wherever the repository is cloned. */
export const VENDORED_CONFORMANCE_DIR = join(REPO_ROOT, 'test', 'fixtures', 'conformance');

/** Where the tests read the conformance sets: $CRIU_TS_CONFORMANCE, the shared sets, or our copy. */
export const CONFORMANCE_DIR =
  process.env['CRIU_TS_CONFORMANCE'] || (existsSync(SHARED_CONFORMANCE_DIR) ? SHARED_CONFORMANCE_DIR : VENDORED_CONFORMANCE_DIR);

/** The built command-line tools, bundled as users run them (npm test builds them first). */
export const CRIT_TS = join(REPO_ROOT, 'dist', 'crit-ts.mjs');
export const CRIU_TS = join(REPO_ROOT, 'dist', 'criu-ts.mjs');
