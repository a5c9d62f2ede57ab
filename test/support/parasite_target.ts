// Facts about test/programs/parasite_target.c for the parasite tests: its READY line, its memory
// pattern, and the /proc fields the tests compare the parasite's results with.
import { readFileSync } from 'node:fs';

/** The `k=v` facts of a READY line (or of any line of `k=v` tokens). */
export function readyFacts(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tok of line.split(' ')) {
    const eq = tok.indexOf('=');
    if (eq > 0) out[tok.slice(0, eq)] = tok.slice(eq + 1);
  }
  return out;
}

/** A field of /proc/PID/task/TID/status (the thread's own: SigBlk is per thread). */
export function statusField(pid: number, field: string, tid = pid): string {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
  if (m === null) throw new Error(`No ${field} in /proc/${pid}/task/${tid}/status`);
  return m[1]!.trim();
}

/** The signals of a /proc signal-set field (`SigCgt`, `SigBlk`, ...). */
export function sigset(hex: string): Set<number> {
  const v = BigInt(`0x${hex}`);
  const out = new Set<number>();
  for (let s = 1; s <= 64; s++) if ((v >> BigInt(s - 1)) & 1n) out.add(s);
  return out;
}

/** Throws unless `bytes` is the target's pattern (u32 word i = i * 2654435761 + 0x5eed1234). */
export function checkPattern(bytes: Uint8Array, firstWord = 0): void {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  for (let i = 0; i < words.length; i++) {
    const want = (Math.imul(i + firstWord, 2654435761) + 0x5eed1234) >>> 0;
    if (words[i] !== want) throw new Error(`Pattern differs at byte ${(i + firstWord) * 4}: ${words[i]} != ${want}`);
  }
}
