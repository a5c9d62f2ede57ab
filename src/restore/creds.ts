/**
 * A thread's credentials, set last in its own batch, CRIU's order: `setgroups`;
 * `prctl(PR_SET_SECUREBITS, SECURE_NO_SETUID_FIXUP)` so that changing ids keeps the capabilities;
 * `setresuid`, `setresgid`; the image's securebits; `prctl(PR_CAPBSET_DROP)` for every capability
 * out of the bounding set; `capset` (v3); ambient capabilities raised; no_new_privs. Nothing is
 * done when the thread's credentials (the seed's) are already the image's.
 */
import { readFileSync } from 'node:fs';
import type { CredsEntry } from '../images/generated/types.js';
import { readStatus } from '../proc/index.js';
import { PR } from '../sys/index.js';
import type { Batch } from './batch.js';

const SECURE_NO_SETUID_FIXUP = 1 << 2;
const CAPABILITY_VERSION_3 = 0x20080522;
const PR_CAP_AMBIENT_RAISE = 2;

function capSet(words: number[] | undefined): bigint {
  const w = words ?? [];
  return BigInt(w[0] ?? 0) | (BigInt(w[1] ?? 0) << 32n);
}

/** True when `/proc/PID/task/TID/status` shows credentials other than the image's. */
export function credsDiffer(creds: CredsEntry, pid: number, tid: number): boolean {
  const s = readStatus(pid, tid);
  const same =
    s.uids.join() === [creds.uid, creds.euid, creds.suid, creds.fsuid].join() &&
    s.gids.join() === [creds.gid, creds.egid, creds.sgid, creds.fsgid].join() &&
    [...s.groups].sort().join() === [...(creds.groups ?? [])].sort().join() &&
    s.capInh === capSet(creds.cap_inh) &&
    s.capPrm === capSet(creds.cap_prm) &&
    s.capEff === capSet(creds.cap_eff) &&
    s.capBnd === capSet(creds.cap_bnd) &&
    s.capAmb === capSet(creds.cap_amb) &&
    (creds.secbits ?? 0) === 0 &&
    s.noNewPrivs === ((creds.no_new_privs ?? 0) !== 0);
  return !same;
}

/** The highest capability this kernel knows (`/proc/sys/kernel/cap_last_cap`). */
function lastCap(): number {
  return Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
}

/** Adds the records that give the running thread `creds`. */
export function addCredsRecords(b: Batch, creds: CredsEntry): void {
  const groups = creds.groups ?? [];
  b.add('setgroups', [groups.length, groups.length > 0 ? b.data.put(new Uint8Array(Uint32Array.from(groups).buffer)) : 0], { what: 'set the supplementary groups' });
  b.add('prctl', [PR.SET_SECUREBITS, SECURE_NO_SETUID_FIXUP, 0, 0, 0], { what: 'keep the capabilities across the id change' });
  b.add('setresuid', [creds.uid, creds.euid, creds.suid], { what: 'set the user ids' });
  b.add('setresgid', [creds.gid, creds.egid, creds.sgid], { what: 'set the group ids' });
  b.add('prctl', [PR.SET_SECUREBITS, creds.secbits ?? 0, 0, 0, 0], { what: 'set the securebits' });
  const bnd = capSet(creds.cap_bnd);
  for (let cap = 0; cap <= lastCap(); cap++) {
    if (!(bnd & (1n << BigInt(cap)))) b.add('prctl', [PR.CAPBSET_DROP, cap, 0, 0, 0], { what: `drop capability ${cap} from the bounding set` });
  }
  const header = new Uint8Array(new Uint32Array([CAPABILITY_VERSION_3, 0]).buffer);
  const w = (x: number[] | undefined, i: number) => (x ?? [])[i] ?? 0;
  const data = new Uint8Array(Uint32Array.from([w(creds.cap_eff, 0), w(creds.cap_prm, 0), w(creds.cap_inh, 0), w(creds.cap_eff, 1), w(creds.cap_prm, 1), w(creds.cap_inh, 1)]).buffer);
  b.add('capset', [b.data.put(header), b.data.put(data)], { what: 'set the capabilities' });
  const amb = capSet(creds.cap_amb);
  for (let cap = 0; cap < 64; cap++) {
    if (amb & (1n << BigInt(cap))) b.add('prctl', [PR.CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0], { what: `raise ambient capability ${cap}` });
  }
  if ((creds.no_new_privs ?? 0) !== 0) b.add('prctl', [PR.SET_NO_NEW_PRIVS, 1, 0, 0, 0], { what: 'set no_new_privs' });
}
