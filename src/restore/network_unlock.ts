/**
 * The end of a restore with TCP connections: the network lock the dump left (so that no packet
 * reached the connections meanwhile) is dropped, the way the dump took it (inventory.img
 * network_lock_method, CRIU's enum):
 *
 * - nftables (1, what criu-ts and newer CRIU take): the table `inet CRIU-<dump run id>`;
 * - iptables (0, CRIU's default, and images older than the field): the two DROP rules CRIU
 *   inserted per connection, in INPUT and OUTPUT, removed one by one;
 * - skip (2): nothing was locked.
 *
 * A lock that is not there (the images come from another machine, or it was already dropped) is
 * not an error: the goal is that no packet of ours stays blocked.
 */
import { spawnSync } from 'node:child_process';
import type { InetSkEntry } from '../images/generated/types.js';
import { readSingle } from '../images/typed.js';
import { unlockRun } from '../net/network_lock.js';
import { AF, formatIPv4, formatIPv6 } from '../sys/index.js';
import type { RestorePlan } from './plan.js';

export const NETWORK_LOCK_METHOD = { IPTABLES: 0, NFTABLES: 1, SKIP: 2 } as const;

/** CRIU's mark on its own repair packets, which its rules let through. */
const SOCCR_MARK = '0xC114';

/** Drops the lock of the dump the plan comes from, for `connections` (the TCP ones restored). */
export function unlockNetwork(plan: RestorePlan, connections: readonly InetSkEntry[], log: (m: string) => void): void {
  if (connections.length === 0) return;
  const inventory = readSingle(plan.images, 'inventory');
  const method = inventory.network_lock_method ?? NETWORK_LOCK_METHOD.IPTABLES;
  if (method === NETWORK_LOCK_METHOD.NFTABLES) {
    if (inventory.dump_criu_run_id === undefined) return;
    unlockRun(inventory.dump_criu_run_id);
    log(`network unlocked (nftables, dump ${inventory.dump_criu_run_id})`);
    return;
  }
  if (method === NETWORK_LOCK_METHOD.IPTABLES) {
    let removed = 0;
    for (const sk of connections) removed += removeIptablesRules(sk);
    log(`network unlocked (iptables): ${removed} rule(s) of ${connections.length * 2} were present`);
  }
}

/** Deletes CRIU's two rules of one connection where iptables is installed; returns how many went. */
function removeIptablesRules(sk: InetSkEntry): number {
  const tool = sk.family === AF.INET6 ? 'ip6tables' : 'iptables';
  const src = text(sk.family, sk.src_addr ?? []);
  const dst = text(sk.family, sk.dst_addr ?? []);
  const rules = [
    ['INPUT', dst, sk.dst_port, src, sk.src_port],
    ['OUTPUT', src, sk.src_port, dst, sk.dst_port],
  ] as const;
  let removed = 0;
  for (const [chain, from, fromPort, to, toPort] of rules) {
    const res = spawnSync(tool, [
      '-w', '-t', 'filter', '-D', chain, '--protocol', 'tcp', '-m', 'mark', '!', '--mark', SOCCR_MARK,
      '--source', from, '--sport', String(fromPort), '--destination', to, '--dport', String(toPort), '-j', 'DROP',
    ], { encoding: 'utf8' });
    if (res.error === undefined && res.status === 0) removed++;
  }
  return removed;
}

function text(family: number, words: readonly number[]): string {
  const buf = Buffer.alloc(family === AF.INET6 ? 16 : 4);
  words.forEach((w, i) => buf.writeUInt32LE(w >>> 0, i * 4));
  return family === AF.INET6 ? formatIPv6(buf) : formatIPv4(buf);
}
