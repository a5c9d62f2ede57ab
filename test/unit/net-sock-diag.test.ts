// sock_diag on real sockets made here, checked against what we set up, `ss` and /proc/net/unix.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TCP_STATE } from '../../src/net/constants.js';
import { inetSockets, SOCK_DIAG_BY_FAMILY, unixSocket, unixSockets } from '../../src/net/sock_diag.js';
import { AF, bind, close, connect, fstat, IPPROTO, listen, sendmsg, SHUT, shutdown, SOCK, socket, socketpair, getsockname, type SockAddr } from '../../src/sys/index.js';
import { NETLINK, NLM_F, netlinkRequest } from '../../src/sys/netlink.js';

const dir = mkdtempSync(join(tmpdir(), 'criu-ts-sock-diag-'));
const opened: number[] = [];
afterAll(() => {
  for (const fd of opened) close(fd);
  rmSync(dir, { recursive: true, force: true });
});

function keep<T extends number | number[]>(fds: T): T {
  opened.push(...(Array.isArray(fds) ? fds : [fds]));
  return fds;
}

const inode = (fd: number): number => Number(fstat(fd).ino);

/** /proc/net/unix rows by inode: flags, type, state, path. */
function procNetUnix(): Map<number, { flags: number; type: number; state: number; path: string }> {
  const out = new Map<number, { flags: number; type: number; state: number; path: string }>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    out.set(Number(f[6]), { flags: parseInt(f[3]!, 16), type: parseInt(f[4]!, 16), state: parseInt(f[5]!, 16), path: f[7] ?? '' });
  }
  return out;
}

/** `ss -xa` rows by local inode: state, Recv-Q, Send-Q, peer inode. */
function ssUnix(): Map<number, { state: string; recvQ: number; sendQ: number; peer: number }> {
  const out = new Map<number, { state: string; recvQ: number; sendQ: number; peer: number }>();
  for (const line of execFileSync('ss', ['-xaH'], { encoding: 'utf8' }).split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    out.set(Number(f[5]), { state: f[1]!, recvQ: Number(f[2]), sendQ: Number(f[3]), peer: Number(f[7]) });
  }
  return out;
}

describe('sock_diag', () => {
  it('shows a socketpair: peers, queued bytes, shutdown, as ss and /proc/net/unix do', () => {
    const [a, b] = keep(socketpair(AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC));
    sendmsg(a, { data: Buffer.from('queued-bytes') });
    shutdown(b, SHUT.WR);
    const all = unixSockets();
    const sa = all.get(inode(a))!;
    const sb = all.get(inode(b))!;
    expect(sa).toMatchObject({ type: SOCK.STREAM, state: TCP_STATE.ESTABLISHED, peer: inode(b) });
    expect(sb).toMatchObject({ type: SOCK.STREAM, state: TCP_STATE.ESTABLISHED, peer: inode(a) });
    expect(sa.name).toBeUndefined();
    expect(sb.rqlen!.rqueue).toBe(12);
    expect(sa.rqlen!.rqueue).toBe(0);
    expect(sa.rqlen!.wqueue).toBeGreaterThan(0); // the skb still charged to a's send buffer
    // shutdown(b, SHUT_WR): b may not send, a has nothing more to read.
    expect(sb.shutdown).toBe(2);
    expect(sa.shutdown).toBe(1);
    const ss = ssUnix();
    expect(ss.get(sa.ino)).toEqual({ state: 'ESTAB', recvQ: 0, sendQ: sa.rqlen!.wqueue, peer: sb.ino });
    expect(ss.get(sb.ino)).toEqual({ state: 'ESTAB', recvQ: 12, sendQ: 0, peer: sa.ino });
    expect(procNetUnix().get(sa.ino)).toMatchObject({ type: SOCK.STREAM, state: 3 /* SS_CONNECTED */ });
    // An exact request tells the same.
    expect(unixSocket(sa.ino)).toEqual(sa);
  });

  it('shows names (path with its NUL, abstract with its leading NUL), the file, pending connections', () => {
    const path = join(dir, 'listener.sock');
    const named = keep(socket(AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC));
    bind(named, { family: 'unix', path });
    listen(named, { backlog: 7 });
    const abstract = keep(socket(AF.UNIX, SOCK.SEQPACKET | SOCK.CLOEXEC));
    const abstractName = `criu-ts-diag-${process.pid}`;
    bind(abstract, { family: 'unix', path: abstractName, abstract: true });
    listen(abstract, { backlog: 3 });
    const client = keep(socket(AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC));
    connect(client, { family: 'unix', path }); // never accepted: an in-flight connection

    const all = unixSockets();
    const n = all.get(inode(named))!;
    expect(n).toMatchObject({ type: SOCK.STREAM, state: TCP_STATE.LISTEN, icons: [inode(client)], rqlen: { rqueue: 1, wqueue: 7 } });
    expect(n.name).toEqual(Buffer.from(`${path}\0`));
    expect(n.vfs!.ino).toBe(statSync(path).ino);
    const ab = all.get(inode(abstract))!;
    expect(ab).toMatchObject({ type: SOCK.SEQPACKET, state: TCP_STATE.LISTEN, icons: [], rqlen: { rqueue: 0, wqueue: 3 } });
    expect(ab.name).toEqual(Buffer.from(`\0${abstractName}`));
    expect(ab.vfs).toBeUndefined();
    // The client's peer is the embryo socket the listener made, which has no inode yet.
    expect(all.get(inode(client))).toMatchObject({ state: TCP_STATE.ESTABLISHED, peer: 0 });

    const proc = procNetUnix();
    expect(proc.get(n.ino)).toMatchObject({ flags: 0x10000 /* __SO_ACCEPTCON */, path });
    expect(proc.get(ab.ino)).toMatchObject({ flags: 0x10000, type: SOCK.SEQPACKET, path: `@${abstractName}` });
    expect(ssUnix().get(n.ino)).toMatchObject({ state: 'LISTEN', recvQ: 1, sendQ: 7 });
  });

  it('shows TCP listeners and UDP sockets, v4 and v6, as ss does', () => {
    const tcp = keep(socket(AF.INET, SOCK.STREAM | SOCK.CLOEXEC));
    bind(tcp, { family: 'inet', address: '127.0.0.1', port: 0 });
    listen(tcp, { backlog: 5 });
    const tcpPort = (getsockname(tcp) as Extract<SockAddr, { family: 'inet' }>).port;
    const udp6 = keep(socket(AF.INET6, SOCK.DGRAM | SOCK.CLOEXEC));
    bind(udp6, { family: 'inet6', address: '::1', port: 0 });
    const other6 = keep(socket(AF.INET6, SOCK.DGRAM | SOCK.CLOEXEC));
    bind(other6, { family: 'inet6', address: '::1', port: 0 });
    const otherPort = (getsockname(other6) as Extract<SockAddr, { family: 'inet6' }>).port;
    connect(udp6, { family: 'inet6', address: '::1', port: otherPort });
    const udpPort = (getsockname(udp6) as Extract<SockAddr, { family: 'inet6' }>).port;
    sendmsg(other6, { data: Buffer.from('x'.repeat(100)), addr: { family: 'inet6', address: '::1', port: udpPort } });

    const t = inetSockets(AF.INET, IPPROTO.TCP).get(inode(tcp))!;
    expect(t).toMatchObject({ family: AF.INET, state: TCP_STATE.LISTEN, srcPort: tcpPort, dstPort: 0, rqueue: 0, wqueue: 5 });
    expect(t.src).toEqual(Buffer.from([127, 0, 0, 1]));
    const u = inetSockets(AF.INET6, IPPROTO.UDP).get(inode(udp6))!;
    expect(u).toMatchObject({ family: AF.INET6, state: TCP_STATE.ESTABLISHED, srcPort: udpPort, dstPort: otherPort, shutdown: 0 });
    expect(u.dst).toEqual(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
    expect(u.rqueue).toBeGreaterThan(100); // one datagram's truesize
    // The v4 TCP table knows nothing of the v6 UDP socket, and the other way round.
    expect(inetSockets(AF.INET6, IPPROTO.UDP).has(inode(tcp))).toBe(false);
    // Only the states asked for.
    expect(inetSockets(AF.INET, IPPROTO.TCP, { states: 1 << TCP_STATE.ESTABLISHED }).has(inode(tcp))).toBe(false);

    const ssTcp = execFileSync('ss', ['-tlnH', `sport = :${tcpPort}`], { encoding: 'utf8' }).trim().split(/\s+/);
    expect(ssTcp.slice(0, 4)).toEqual(['LISTEN', '0', '5', `127.0.0.1:${tcpPort}`]);
    const ssUdp = execFileSync('ss', ['-uanH', `sport = :${udpPort}`], { encoding: 'utf8' }).trim().split(/\s+/);
    expect(ssUdp).toEqual(['ESTAB', String(u.rqueue), '0', `[::1]:${udpPort}`, `[::1]:${otherPort}`]);
  });

  it('reports a socket that is not there as undefined, and a refused request as a SysError', () => {
    expect(unixSocket(0x7ffffff0)).toBeUndefined();
    // The kernel refuses a family beyond AF_MAX.
    const bad = Buffer.alloc(24);
    bad[0] = 200;
    expect(() => netlinkRequest(NETLINK.SOCK_DIAG, { type: SOCK_DIAG_BY_FAMILY, flags: NLM_F.DUMP, payload: bad, what: 'ask for family 200' })).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^Ask for family 200: netlink/) }),
    );
  });
});
