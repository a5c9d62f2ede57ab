/**
 * The x86_64 parasite blob as the driver uses it: the committed bytes of
 * `arch/x86_64/parasite_blob.ts` (generated from `parasite/x86_64/parasite.S`), checked against
 * their recorded size and the protocol version this build speaks.
 */

import { createHash } from 'node:crypto';
import { PROTOCOL_VERSION } from '../../parasite/protocol.js';
import { PARASITE_X86_64 } from './parasite_blob.js';
import { buildSigframe, sigframeSize } from './sigframe.js';

/** A parasite blob, ready to copy into a task. */
export interface ParasiteBlob {
  arch: 'x86_64' | 'aarch64';
  bytes: Buffer;
  /** Offsets from the blob's start: `daemon` and `thread` entries, the `sigreturn` syscall. */
  entries: { daemon: number; thread: number; sigreturn: number };
}

let cached: ParasiteBlob | null = null;

/** The x86_64 parasite. Throws if the committed module is inconsistent (size, sha256, version). */
export function parasiteX86_64(): ParasiteBlob {
  if (cached !== null) return cached;
  const bytes = Buffer.from(PARASITE_X86_64.base64, 'base64');
  if (bytes.length !== PARASITE_X86_64.size) throw new Error(`The x86_64 parasite blob is ${bytes.length} bytes, its module says ${PARASITE_X86_64.size}`);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== PARASITE_X86_64.sha256) throw new Error('The x86_64 parasite blob does not match its sha256: rebuild it with node scripts/build-blobs.mjs');
  if (PARASITE_X86_64.version !== PROTOCOL_VERSION) {
    throw new Error(`The x86_64 parasite speaks protocol ${PARASITE_X86_64.version}, this build ${PROTOCOL_VERSION}: rebuild it with node scripts/build-blobs.mjs`);
  }
  const e = PARASITE_X86_64.entries;
  cached = Object.freeze({ arch: 'x86_64', bytes, entries: Object.freeze({ daemon: e.daemon, thread: e.thread, sigreturn: e.sigreturn }) });
  return cached;
}

/** What a sigframe is built from, on any arch (registers by their `NT_PRSTATUS` names). */
export interface ParasiteSigframeInput {
  regs: Readonly<Record<string, bigint>>;
  sigmask: bigint;
  xstate: Uint8Array;
  address: bigint;
}

/**
 * What the driver (`src/infect`) needs of an arch to run the parasite, besides `ArchOps`: the blob,
 * and the sigframe its `rt_sigreturn` goes home through.
 */
export interface ParasiteArch {
  blob(): ParasiteBlob;
  /** Bytes of a frame for an extended-register set of `xstateSize` bytes. */
  sigframeSize(xstateSize: number): number;
  /** Builds the frame for `address` (aligned to {@link frameAlign}); `sigreturnSp` goes in the control block. */
  buildSigframe(input: ParasiteSigframeInput): { bytes: Uint8Array; sigreturnSp: bigint };
  /** Alignment a frame's address needs. */
  readonly frameAlign: number;
}

/** x86_64's {@link ParasiteArch}. */
export const X86_64_PARASITE: ParasiteArch = Object.freeze({
  blob: parasiteX86_64,
  sigframeSize,
  buildSigframe: (input: ParasiteSigframeInput) => buildSigframe(input),
  frameAlign: 64,
});
