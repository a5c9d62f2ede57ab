/**
 * The network lock: while connections are checkpointed or restored, no packet may reach them
 * (the kernel would answer with a reset). Like CRIU's nftables lock, one table per dump,
 * `inet CRIU-<dump run id>`, holds input and output chains that drop every packet of the
 * connections listed in the sets `conns4`/`conns6` (both directions), and accept packets marked
 * 0xC114 (the mark CRIU's TCP repair uses for its own packets). Same table and set names as
 * CRIU's, so that either tool can unlock a lock the other took.
 *
 * The lock is taken before anything is frozen and dropped on every path (`NetworkLock.release`),
 * and `staleLocks()` finds tables left by a dumper that was killed.
 */
import { spawnSync } from 'node:child_process';
import { CriuTsError } from '../errors.js';

export type NetworkLockErrorCode = 'NETLOCK_UNAVAILABLE' | 'NETLOCK_FAILED';

export class NetworkLockError extends CriuTsError {
  constructor(code: NetworkLockErrorCode, what: string) {
    super(code, what);
  }
}

/** One TCP connection, as the lock sees it (addresses as text, v4 or v6). */
export interface LockedConnection {
  family: 4 | 6;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** The mark CRIU's TCP repair code puts on the packets it sends itself (SOCCR_MARK). */
export const SOCCR_MARK = 0xc114;

/**
 * CRIU's table name for a run id: it formats "inet CRIU-<id>" into a 32-byte buffer, so a UUID run
 * id is cut to the first 31 characters. We keep the same name so CRIU can unlock our lock.
 */
export function lockTableName(runId: string): string {
  return `inet CRIU-${runId}`.slice(0, 31).slice('inet '.length);
}

interface NftOptions {
  /** Run in the network namespace of this task (nsenter); ours when absent. */
  netnsPid?: number;
}

function runNft(script: string, opts: NftOptions): { ok: boolean; error: string } {
  const command = opts.netnsPid === undefined ? ['nft', ['-f', '-']] : ['nsenter', [`--net=/proc/${opts.netnsPid}/ns/net`, 'nft', '-f', '-']];
  const res = spawnSync(command[0] as string, command[1] as string[], { input: script, encoding: 'utf8', timeout: 10_000 });
  if (res.error) {
    throw new NetworkLockError('NETLOCK_UNAVAILABLE', `cannot run ${command[0]}: ${res.error.message} (the network lock needs nftables: apt-get install nftables)`);
  }
  return { ok: res.status === 0, error: res.stderr.trim() };
}

/** A taken lock; `release()` drops it (safe to call twice). */
/** What a lock cost: nft runs (each one transaction) and the changes they made (tables, chains, rules, set elements). */
export interface NetworkLockStats {
  transactions: number;
  changes: number;
}

export class NetworkLock {
  readonly table: string;
  readonly #opts: NftOptions;
  #held = true;
  readonly stats: NetworkLockStats = { transactions: 1, changes: 0 };

  private constructor(table: string, opts: NftOptions) {
    this.table = table;
    this.#opts = opts;
  }

  /** Creates the table and blocks `connections` (both directions) in one nft transaction. */
  static take(runId: string, connections: readonly LockedConnection[], opts: NftOptions = {}): NetworkLock {
    const table = lockTableName(runId);
    const t = `inet ${table}`;
    const lines = [
      `add table ${t}`,
      `add chain ${t} output { type filter hook output priority 0; }`,
      `add rule ${t} output meta mark ${SOCCR_MARK} accept`,
      `add chain ${t} input { type filter hook input priority 0; }`,
      `add rule ${t} input meta mark ${SOCCR_MARK} accept`,
      `add set ${t} conns4 { type ipv4_addr . inet_service . ipv4_addr . inet_service; }`,
      `add rule ${t} output ip saddr . tcp sport . ip daddr . tcp dport @conns4 drop`,
      `add rule ${t} input ip saddr . tcp sport . ip daddr . tcp dport @conns4 drop`,
      `add set ${t} conns6 { type ipv6_addr . inet_service . ipv6_addr . inet_service; }`,
      `add rule ${t} output ip6 saddr . tcp sport . ip6 daddr . tcp dport @conns6 drop`,
      `add rule ${t} input ip6 saddr . tcp sport . ip6 daddr . tcp dport @conns6 drop`,
    ];
    lines.push(...elementLines(t, connections));
    const res = runNft(lines.join('\n') + '\n', opts);
    if (!res.ok) throw new NetworkLockError('NETLOCK_FAILED', `cannot lock the network (table ${table}): ${res.error}`);
    const lock = new NetworkLock(table, opts);
    lock.stats.changes = lines.length;
    return lock;
  }

  /**
   * Blocks more connections under the same lock (one nft transaction). A dump takes the lock
   * empty before it freezes anything, then adds each connection as it meets it.
   */
  add(connections: readonly LockedConnection[]): void {
    if (!this.#held) throw new NetworkLockError('NETLOCK_FAILED', `the network lock ${this.table} was already released`);
    if (connections.length === 0) return;
    const lines = elementLines(`inet ${this.table}`, connections);
    const res = runNft(lines.join('\n') + '\n', this.#opts);
    if (!res.ok) throw new NetworkLockError('NETLOCK_FAILED', `cannot lock ${connections.map(describeConnection).join(', ')} (table ${this.table}): ${res.error}`);
    this.stats.transactions++;
    this.stats.changes += lines.length;
  }

  /** `nft delete table inet CRIU-…`: every packet flows again. */
  release(): void {
    if (!this.#held) return;
    const res = runNft(`delete table inet ${this.table}\n`, this.#opts);
    if (!res.ok && !/No such file or directory/.test(res.error)) {
      throw new NetworkLockError('NETLOCK_FAILED', `cannot unlock the network (table ${this.table}): ${res.error}`);
    }
    this.stats.transactions++;
    this.stats.changes++;
    this.#held = false;
  }

  get held(): boolean {
    return this.#held;
  }
}

/** The set elements that drop a connection's packets: from the peer to us, and from us to the peer. */
function elementLines(table: string, connections: readonly LockedConnection[]): string[] {
  return connections.flatMap((c) => [
    `add element ${table} conns${c.family} { ${c.remoteAddress} . ${c.remotePort} . ${c.localAddress} . ${c.localPort} }`,
    `add element ${table} conns${c.family} { ${c.localAddress} . ${c.localPort} . ${c.remoteAddress} . ${c.remotePort} }`,
  ]);
}

/** `127.0.0.1:45060 - 127.0.0.1:47001`, `[::1]:45060 - [::1]:47001` */
export function describeConnection(c: LockedConnection): string {
  const at = (a: string, p: number) => (c.family === 6 ? `[${a}]:${p}` : `${a}:${p}`);
  return `${at(c.localAddress, c.localPort)} - ${at(c.remoteAddress, c.remotePort)}`;
}

/** Drops the lock of a dump by its run id (restore unlocks what dump locked). */
export function unlockRun(runId: string, opts: NftOptions = {}): void {
  const res = runNft(`delete table inet ${lockTableName(runId)}\n`, opts);
  if (!res.ok && !/No such file or directory/.test(res.error)) {
    throw new NetworkLockError('NETLOCK_FAILED', `cannot unlock the network (table ${lockTableName(runId)}): ${res.error}`);
  }
}

/** The names of lock tables present now (left by a dump that did not finish, or in use). */
export function staleLocks(opts: NftOptions = {}): string[] {
  const command = opts.netnsPid === undefined ? ['nft', ['list', 'tables', 'inet']] : ['nsenter', [`--net=/proc/${opts.netnsPid}/ns/net`, 'nft', 'list', 'tables', 'inet']];
  const res = spawnSync(command[0] as string, command[1] as string[], { encoding: 'utf8' });
  if (res.error || res.status !== 0) return [];
  return res.stdout.split('\n').map((l) => /^table inet (CRIU-\S+)/.exec(l.trim())?.[1]).filter((n): n is string => n !== undefined);
}
