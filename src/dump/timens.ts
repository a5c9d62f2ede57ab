/**
 * The time namespace image (timens-0.img): the task's CLOCK_MONOTONIC and CLOCK_BOOTTIME at dump
 * time, as it sees them, so that restore can offset a new time namespace to continue from there.
 */
import { readFileSync } from 'node:fs';
import type { TimensEntry } from '../images/generated/types.js';
import { syscall } from '../sys/index.js';

const CLOCK_MONOTONIC = 1;
const CLOCK_BOOTTIME = 7;

function now(clock: number): { tv_sec: bigint; tv_nsec: bigint } {
  const ts = new BigInt64Array(2);
  syscall('clock_gettime', clock, ts);
  return { tv_sec: ts[0]!, tv_nsec: ts[1]! };
}

/** Offsets of the task's time namespace from ours (/proc/PID/timens_offsets), in nanoseconds. */
function offsets(pid: number): { monotonic: bigint; boottime: bigint } {
  const out = { monotonic: 0n, boottime: 0n };
  for (const line of readFileSync(`/proc/${pid}/timens_offsets`, 'utf8').split('\n')) {
    const [name, sec, nsec] = line.trim().split(/\s+/);
    if (name === 'monotonic' || name === 'boottime') out[name] = BigInt(sec!) * 1_000_000_000n + BigInt(nsec!);
  }
  return out;
}

function shift(t: { tv_sec: bigint; tv_nsec: bigint }, ns: bigint): { tv_sec: bigint; tv_nsec: bigint } {
  const total = t.tv_sec * 1_000_000_000n + t.tv_nsec + ns;
  return { tv_sec: total / 1_000_000_000n, tv_nsec: total % 1_000_000_000n };
}

/** The clocks task `pid` sees now. */
export function timensEntry(pid: number): TimensEntry {
  const theirs = offsets(pid);
  const ours = offsets(process.pid);
  return {
    monotonic: shift(now(CLOCK_MONOTONIC), theirs.monotonic - ours.monotonic),
    boottime: shift(now(CLOCK_BOOTTIME), theirs.boottime - ours.boottime),
  };
}
