import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Image sets written by upstream CRIU 4.2 (see ../shared/conformance/README.md). */
export const CONFORMANCE_DIR = process.env['CRIU_TS_CONFORMANCE'] ?? resolve(REPO_ROOT, '..', 'shared', 'conformance');

/** The built command-line tools (npm test builds them first). */
export const CRIT_TS = join(REPO_ROOT, 'dist', 'src', 'cli', 'crit.js');
export const CRIU_TS = join(REPO_ROOT, 'dist', 'src', 'cli', 'criu.js');
