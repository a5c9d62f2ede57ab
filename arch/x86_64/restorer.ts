/**
 * The x86_64 restorer blob as the driver uses it: the committed bytes of
 * `arch/x86_64/restorer_blob.ts` (generated from `parasite/x86_64/restorer.S`), checked against
 * their recorded size, sha256 and the restorer protocol version of this build.
 */
import { createHash } from 'node:crypto';
import { RESTORER_VERSION } from '../../parasite/restorer_protocol.js';
import { RESTORER_X86_64 } from './restorer_blob.js';

/** A restorer blob, ready to copy into a task's bootstrap area. */
export interface RestorerBlob {
  arch: 'x86_64' | 'aarch64';
  bytes: Buffer;
  /**
   * Offsets from the blob's start: `batch` (rdi = control block), `batchTrap` (its int3: the trap
   * stop reports ip = this + 1), `sigreturn` (rdi = sigreturn sp), `site` (`syscall; int3`),
   * `reap` (rdi = the root's pid, rsi = a status slot: the life of a namespace init).
   */
  entries: { batch: number; batchTrap: number; sigreturn: number; site: number; reap: number };
}

let cached: RestorerBlob | null = null;

/** The x86_64 restorer. Throws if the committed module is inconsistent (size, sha256, version). */
export function restorerX86_64(): RestorerBlob {
  if (cached !== null) return cached;
  const bytes = Buffer.from(RESTORER_X86_64.base64, 'base64');
  if (bytes.length !== RESTORER_X86_64.size) throw new Error(`The x86_64 restorer blob is ${bytes.length} bytes, its module says ${RESTORER_X86_64.size}`);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== RESTORER_X86_64.sha256) throw new Error('The x86_64 restorer blob does not match its sha256: rebuild it with node scripts/build-blobs.mjs');
  if (RESTORER_X86_64.version !== RESTORER_VERSION) {
    throw new Error(`The x86_64 restorer speaks protocol ${RESTORER_X86_64.version}, this build ${RESTORER_VERSION}: rebuild it with node scripts/build-blobs.mjs`);
  }
  const e = RESTORER_X86_64.entries;
  cached = Object.freeze({ arch: 'x86_64', bytes, entries: Object.freeze({ batch: e.batch, batchTrap: e.batch_trap, sigreturn: e.sigreturn, site: e.site, reap: e.reap }) });
  return cached;
}
