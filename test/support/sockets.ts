// Independent views of a process's sockets for the socket dump tests: `ss` (iproute2, which asks
// sock_diag itself but parses and prints on its own) and /proc/net/unix.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** One socket as `ss -apm` prints it. */
export interface SsSocket {
  /** u_str, u_dgr, u_seq, tcp, udp */
  netid: string;
  /** ESTAB, LISTEN, UNCONN */
  state: string;
  recvQ: number;
  sendQ: number;
  /** Unix: the name (`*` unnamed, `@x` abstract); inet: `addr:port`. */
  local: string;
  /** Unix: the socket's inode. */
  ino?: number;
  /** Unix: the peer's inode (0: none); inet: `addr:port` of the peer. */
  peer: string;
  /** skmem rb (receive buffer) and tb (send buffer). */
  rcvbuf: number;
  sndbuf: number;
}

const LINE_UNIX = /^(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s*(.*)$/;
const LINE_INET = /^(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s*(.*)$/;

/** The sockets task `pid` holds, by fd (`ss -xapmH` for Unix, `ss -tuapmH` for TCP and UDP). */
export function ssSockets(pid: number, family: 'unix' | 'inet'): Map<number, SsSocket> {
  const text = execFileSync('ss', [family === 'unix' ? '-xapmH' : '-tuapmH'], { encoding: 'utf8' });
  // A record may go on over indented lines (the skmem of inet sockets).
  const records: string[] = [];
  for (const line of text.split('\n')) {
    if (/^\s/.test(line) && records.length > 0) records[records.length - 1] += ` ${line.trim()}`;
    else if (line.trim() !== '') records.push(line.trim());
  }
  const out = new Map<number, SsSocket>();
  for (const record of records) {
    let sk: SsSocket;
    let rest: string;
    if (family === 'unix') {
      const m = LINE_UNIX.exec(record);
      if (!m) continue;
      sk = { netid: m[1]!, state: m[2]!, recvQ: Number(m[3]), sendQ: Number(m[4]), local: m[5]!, ino: Number(m[6]), peer: m[8]!, rcvbuf: 0, sndbuf: 0 };
      rest = m[9]!;
    } else {
      const m = LINE_INET.exec(record);
      if (!m) continue;
      sk = { netid: m[1]!, state: m[2]!, recvQ: Number(m[3]), sendQ: Number(m[4]), local: m[5]!, peer: m[6]!, rcvbuf: 0, sndbuf: 0 };
      rest = m[7]!;
    }
    const mem = /skmem:\(([^)]*)\)/.exec(rest);
    if (mem) {
      sk.rcvbuf = Number(/(?:^|,)rb(\d+)/.exec(mem[1]!)?.[1] ?? 0);
      sk.sndbuf = Number(/(?:^|,)tb(\d+)/.exec(mem[1]!)?.[1] ?? 0);
    }
    for (const user of rest.matchAll(/pid=(\d+),fd=(\d+)/g)) {
      if (Number(user[1]) === pid) out.set(Number(user[2]), sk);
    }
  }
  return out;
}

/** /proc/net/unix by inode: flags (0x10000: listening), type, socket state (3: connected), path. */
export function procNetUnix(): Map<number, { flags: number; type: number; state: number; path: string }> {
  const out = new Map<number, { flags: number; type: number; state: number; path: string }>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    out.set(Number(f[6]), { flags: parseInt(f[3]!, 16), type: parseInt(f[4]!, 16), state: parseInt(f[5]!, 16), path: f[7] ?? '' });
  }
  return out;
}

/** A kernel default from /proc/sys (ip_default_ttl, tcp_keepalive_time...). */
export function sysctlNumber(path: string): number {
  return Number(readFileSync(`/proc/sys/${path}`, 'utf8').trim());
}
