/**
 * Dumping sockets (files.img UNIXSK/INETSK, sk-queues.img) from real processes: every field
 * checked against what the program set up, `ss`, /proc/net/unix and /proc/sys; the key sets
 * against CRIU 4.2's conformance images; the queues still in place afterwards (the program reads
 * them back on SIGTERM and prints PASS). Peers outside the tree, with and without --ext-unix-sk,
 * and TCP connections are refused or recorded as CRIU does.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FdDumpError, dumpFds, finishFds, newFdDumpContext, type FdDumpContext } from '../../src/dump/files/fds.js';
import { FileTable } from '../../src/dump/files/table.js';
import { USK_EXTERN } from '../../src/dump/files/unix_sk.js';
import { KobjIds } from '../../src/dump/ids.js';
import type { FdinfoEntry, FileEntry, InetSkEntry, UnixSkEntry } from '../../src/images/generated/types.js';
import { FdTypes } from '../../src/images/generated/types.js';
import { TCP_STATE } from '../../src/net/constants.js';
import { AF, SOCK, accept, bind, close, fstat, getpeername, getsockname, listen, recvmsg, socket, type SockAddr } from '../../src/sys/index.js';
import { CONFORMANCE_DIR } from '../support/paths.js';
import { killAllPrograms, signalProgram, startProgram, workDir } from '../support/programs.js';
import { procNetUnix, ssSockets, sysctlNumber, type SsSocket } from '../support/sockets.js';

const ours: number[] = [];
afterAll(() => {
  killAllPrograms();
  for (const fd of ours) close(fd);
});

const NS_ID = new KobjIds().dumper.net_ns_id!;
const SS_TYPES: Record<string, number> = { u_str: SOCK.STREAM, u_dgr: SOCK.DGRAM, u_seq: SOCK.SEQPACKET, tcp: SOCK.STREAM, udp: SOCK.DGRAM };
const SS_STATES: Record<string, number> = { ESTAB: TCP_STATE.ESTABLISHED, LISTEN: TCP_STATE.LISTEN, UNCONN: TCP_STATE.CLOSE };

function inodeOf(pid: number, fd: number): number {
  return Number(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))![1]);
}

/** The open flags of an fd, without O_CLOEXEC, from /proc/PID/fdinfo. */
function fdFlags(pid: number, fd: number): number {
  return parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))![1]!, 8) & ~0o2000000;
}

/** The name as ss prints it, as the bytes sock_diag gives (and CRIU writes). */
function ssName(local: string): Buffer {
  if (local === '*') return Buffer.alloc(0);
  if (local.startsWith('@')) return Buffer.from(`\0${local.slice(1)}`);
  return Buffer.from(`${local}\0`);
}

function port(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
}

/** Queued packets by the id of the socket they wait on. */
function queues(ctx: FdDumpContext): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const p of ctx.extra.get('skQueues') ?? []) {
    const { entry, extra } = p as { entry: { id_for: number; length: number }; extra: Uint8Array };
    expect(extra.length).toBe(entry.length);
    out.set(entry.id_for, [...(out.get(entry.id_for) ?? []), Buffer.from(extra).toString()]);
  }
  return out;
}

function conformanceEntry(type: string, pick: (e: Record<string, unknown>) => boolean): Record<string, unknown> {
  const files = JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'python-state', 'decoded', 'files.img.json'), 'utf8')) as { entries: Array<Record<string, unknown>> };
  return files.entries.find((e) => e['type'] === type && pick(e))!;
}

const keys = (o: object): string[] => Object.keys(o).sort();

describe('socket dump', () => {
  it('dumps Unix and inet sockets of a tree as CRIU writes them, and leaves their queues in place', () => {
    const dir = join(workDir(), 'sockets');
    mkdirSync(dir, { recursive: true });
    const target = startProgram('sockets_state', { args: [dir] });
    const child = Number(target.waitOutput(/child (\d+)/)[1]);
    const abstract = target.waitOutput(/abstract (\S+)/)[1]!;
    const ssUnix = ssSockets(target.pid, 'unix');
    const ssChild = ssSockets(child, 'unix');
    const ssInet = ssSockets(target.pid, 'inet');
    const proc = procNetUnix();

    const table = new FileTable();
    const ctx = newFdDumpContext(table);
    const parentFds = dumpFds(target.pid, ctx).filter((f) => f.fd < 100);
    const childFds = dumpFds(child, ctx).filter((f) => f.fd < 100);
    finishFds(ctx);
    const entryOf = (list: FdinfoEntry[], fd: number): FileEntry => table.get(list.find((f) => f.fd === fd)!.id)!;
    const usk = (fd: number): UnixSkEntry => entryOf(parentFds, fd).usk!;
    const isk = (fd: number): InetSkEntry => entryOf(parentFds, fd).isk!;
    const queued = queues(ctx);

    const unixFds = [3, 4, 5, 6, 7, 8, 9, 10, 17, 18, 20, 21, 22, 23, 24, 25];
    const inetFds = [11, 12, 13, 14, 15, 16];
    for (const f of parentFds.filter((x) => x.fd > 2)) {
      expect({ fd: f.fd, type: f.type }).toEqual({ fd: f.fd, type: inetFds.includes(f.fd) ? FdTypes.INETSK : FdTypes.UNIXSK });
    }
    expect(parentFds.map((f) => f.fd).filter((fd) => fd > 2).sort((a, b) => a - b)).toEqual([...unixFds, ...inetFds].sort((a, b) => a - b));

    // Every Unix socket, field by field, against ss and /proc/net/unix.
    const checkUnix = (pid: number, fd: number, e: UnixSkEntry, ss: SsSocket) => {
      const at = `task ${pid} fd ${fd}`;
      expect({ at, ino: e.ino }).toEqual({ at, ino: inodeOf(pid, fd) });
      expect({ at, ino: e.ino, type: e.type, state: e.state, backlog: e.backlog }).toEqual({ at, ino: ss.ino, type: SS_TYPES[ss.netid], state: SS_STATES[ss.state], backlog: ss.sendQ });
      expect({ at, name: Buffer.from(e.name) }).toEqual({ at, name: ssName(ss.local) });
      expect({ at, sndbuf: e.opts.so_sndbuf, rcvbuf: e.opts.so_rcvbuf }).toEqual({ at, sndbuf: ss.sndbuf, rcvbuf: ss.rcvbuf });
      expect({ at, flags: e.flags, uflags: e.uflags, ns_id: e.ns_id, shutdown: e.shutdown }).toEqual({ at, flags: fdFlags(pid, fd), uflags: 0, ns_id: NS_ID, shutdown: undefined });
      expect({ at, listening: (proc.get(e.ino)!.flags & 0x10000) !== 0 }).toEqual({ at, listening: e.state === TCP_STATE.LISTEN });
      // The connection not yet accepted is tied to its listener (ss shows no peer for it).
      if (fd !== 22 || pid !== target.pid) expect({ at, peer: e.peer }).toEqual({ at, peer: Number(ss.peer) });
      // Queued bytes: all of them for stream and seqpacket, the first datagram's for datagram sockets;
      // a listener's queue holds connections (only fd 5 has one: fd 22's), which are not dumped as data.
      const q = queued.get(table.entries.find((x) => x.usk === e)!.id) ?? [];
      const recvQ = e.state === TCP_STATE.LISTEN ? (fd === 5 ? 1 : 0) : e.type === SOCK.DGRAM ? (q[0]?.length ?? 0) : q.reduce((n, s) => n + s.length, 0);
      expect({ at, recvQ }).toEqual({ at, recvQ: ss.recvQ });
    };
    for (const fd of unixFds) checkUnix(target.pid, fd, usk(fd), ssUnix.get(fd)!);
    checkUnix(child, 19, entryOf(childFds, 19).usk!, ssChild.get(19)!);

    // What the program set up.
    const idOf = (fd: number) => parentFds.find((f) => f.fd === fd)!.id;
    expect(queued.get(idOf(4))!.join('')).toBe('hello from 3 and more');
    expect(queued.get(idOf(3))!.join('')).toBe('reply from 4');
    expect(queued.get(idOf(8))).toEqual(['dgram-1', 'dgram-two', 'dgram-3-is-longer-than-the-others']);
    expect(queued.get(idOf(7))).toEqual(['back']);
    expect(queued.get(idOf(10))).toEqual(['packet one', 'packet 2']);
    expect(queued.get(idOf(21))!.join('')).toBe('client hello');
    expect(queued.get(idOf(18))!.join('')).toBe('to parent');
    expect(queued.get(childFds.find((f) => f.fd === 19)!.id)!.join('')).toBe('to child');
    expect([...queued.keys()].length).toBe(8);

    const file = (name: string) => statSync(join(dir, name));
    expect(usk(5)).toMatchObject({ type: SOCK.STREAM, state: TCP_STATE.LISTEN, backlog: 5, name_dir: dir, file_perms: { mode: file('listener.sock').mode, uid: 0, gid: 0 } });
    expect(usk(21)).toMatchObject({ name_dir: dir, file_perms: { mode: file('listener.sock').mode } }); // accepted: the listener's name
    expect(usk(6)).toMatchObject({ type: SOCK.SEQPACKET, state: TCP_STATE.LISTEN, backlog: 3 });
    expect(Buffer.from(usk(6).name)).toEqual(Buffer.from(`\0${abstract}`));
    expect(usk(6).file_perms).toBeUndefined();
    expect(usk(22).peer).toBe(usk(5).ino);
    expect(usk(24)).toMatchObject({ name_dir: dir, file_perms: { mode: file('rel.sock').mode } });
    expect(usk(25).deleted).toBe(true);
    expect(existsSync(join(dir, 'gone.sock'))).toBe(false);
    expect(usk(3).deleted).toBeUndefined();
    expect(usk(18).peer).toBe(entryOf(childFds, 19).usk!.ino);
    expect(usk(17).opts).toMatchObject({ so_passcred: true, so_priority: 3, so_mark: 7, so_rcv_tmo_sec: 2n, so_rcv_tmo_usec: 500000n, so_snd_tmo_sec: 0n });
    expect(usk(3).opts).toMatchObject({ so_passcred: false, so_passsec: false, so_priority: 0, so_rcvlowat: 1, reuseaddr: false, so_buf_lock: 0 });
    expect(usk(3).opts.so_mark).toBeUndefined();

    // Inet sockets.
    const ttl = sysctlNumber('net/ipv4/ip_default_ttl');
    const checkInet = (fd: number, family: number) => {
      const e = isk(fd);
      const ss = ssInet.get(fd);
      const at = `fd ${fd}`;
      expect({ at, ino: e.ino, family: e.family, flags: e.flags }).toEqual({ at, ino: inodeOf(target.pid, fd), family, flags: fdFlags(target.pid, fd) });
      if (ss === undefined) return e; // in no table (fd 14)
      expect({ at, type: e.type, state: e.state, backlog: e.backlog, src_port: e.src_port, ns_id: e.ns_id }).toEqual({
        at, type: SS_TYPES[ss.netid], state: SS_STATES[ss.state], backlog: ss.sendQ, src_port: port(ss.local), ns_id: NS_ID,
      });
      expect({ at, sndbuf: e.opts.so_sndbuf, rcvbuf: e.opts.so_rcvbuf }).toEqual({ at, sndbuf: ss.sndbuf, rcvbuf: ss.rcvbuf });
      expect({ at, dst_port: e.dst_port }).toEqual({ at, dst_port: ss.peer.endsWith(':*') ? 0 : port(ss.peer) });
      return e;
    };
    const LOOPBACK4 = [0x0100007f]; // 127.0.0.1 in network order, read as a host-order word
    const LOOPBACK6 = [0, 0, 0, 0x01000000];
    expect(checkInet(11, AF.INET)).toMatchObject({ proto: 17, state: TCP_STATE.CLOSE, src_addr: LOOPBACK4, dst_addr: [0], ip_opts: { ttl }, tcp_opts: {} });
    expect(checkInet(12, AF.INET)).toMatchObject({ proto: 17, state: TCP_STATE.ESTABLISHED, dst_port: isk(11).src_port, dst_addr: LOOPBACK4 });
    expect(checkInet(13, AF.INET6)).toMatchObject({ proto: 17, v6only: true, src_addr: LOOPBACK6, ip_opts: {} });
    expect(checkInet(14, AF.INET6)).toMatchObject({ proto: 17, state: TCP_STATE.CLOSE, src_port: 0, v6only: false, src_addr: [0, 0, 0, 0] });
    expect(isk(14).ns_id).toBeUndefined(); // unlisted sockets carry none, as in CRIU
    const keepalive = { keepcnt: sysctlNumber('net/ipv4/tcp_keepalive_probes'), keepintvl: sysctlNumber('net/ipv4/tcp_keepalive_intvl') };
    expect(checkInet(15, AF.INET)).toMatchObject({
      proto: 6, state: TCP_STATE.LISTEN, backlog: 4, src_addr: LOOPBACK4,
      opts: { reuseaddr: true, so_sndbuf: 32768, so_rcvbuf: 131072, so_buf_lock: 3 },
      ip_opts: { ttl }, tcp_opts: { nodelay: true, keepidle: 600, ...keepalive },
    });
    expect(checkInet(16, AF.INET6)).toMatchObject({ proto: 6, state: TCP_STATE.LISTEN, backlog: 8, v6only: false, tcp_opts: { keepidle: sysctlNumber('net/ipv4/tcp_keepalive_time'), ...keepalive } });
    expect(isk(15).opts.so_passcred).toBeUndefined(); // refused for inet sockets since Linux 6.16

    // The same fields as CRIU 4.2 writes for the same kinds of socket.
    const criuUnix = conformanceEntry('UNIXSK', () => true)['usk'] as Record<string, object>;
    expect(keys(usk(3))).toEqual(keys(criuUnix));
    expect(keys(usk(3).opts)).toEqual(keys(criuUnix['opts']!));
    const criuListener = conformanceEntry('INETSK', (e) => (e['isk'] as { state: string }).state === 'LISTEN')['isk'] as Record<string, object>;
    expect(keys(isk(15))).toEqual(keys(criuListener));
    expect(keys(isk(15).opts)).toEqual(keys(criuListener['opts']!));
    expect(keys(isk(15).ip_opts!)).toEqual(keys(criuListener['ip_opts']!));

    // Nothing was taken: the program reads every queued byte back, and no peek offset is left.
    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  describe('a Unix peer outside the tree', () => {
    let serial = 0;
    function outside(mode: 'stream' | 'dgram') {
      const path = join(workDir(), `outside-${mode}-${++serial}.sock`);
      const mine = socket(AF.UNIX, (mode === 'stream' ? SOCK.STREAM : SOCK.DGRAM) | SOCK.CLOEXEC);
      ours.push(mine);
      bind(mine, { family: 'unix', path });
      if (mode === 'stream') listen(mine, { backlog: 1 });
      const target = startProgram('unix_outside', { args: [mode, path] });
      const held = mode === 'stream' ? accept(mine) : mine;
      if (held !== mine) ours.push(held);
      return { target, path, held };
    }

    function dumpWith(pid: number, extUnixSk: boolean) {
      const table = new FileTable();
      const ctx = newFdDumpContext(table, { extUnixSk });
      dumpFds(pid, ctx); // the peer is judged once the whole tree is dumped
      let error: unknown;
      try {
        finishFds(ctx);
      } catch (err) {
        error = err;
      }
      return { table, error };
    }

    it('is refused without --ext-unix-sk, naming the task and fd', () => {
      const { target, path, held } = outside('stream');
      const { error } = dumpWith(target.pid, false);
      expect(error).toBeInstanceOf(FdDumpError);
      expect(error).toMatchObject({ code: 'FD_UNSUPPORTED' });
      expect((error as Error).message).toBe(
        `task ${target.pid}, fd 3: Unix socket socket:[${inodeOf(target.pid, 3)}] is connected to socket:[${Number(fstat(held).ino)}] (bound to ${path}), ` +
          'which no task of the dumped tree holds (--ext-unix-sk allows a named datagram peer outside the tree)',
      );
      signalProgram(target, 'SIGTERM');
      target.waitOutput(/PASS/);
    });

    it('is refused for a stream connection even with --ext-unix-sk', () => {
      const { target } = outside('stream');
      const { error } = dumpWith(target.pid, true);
      expect(error).toMatchObject({ code: 'FD_UNSUPPORTED', message: expect.stringMatching(/half of a stream connection cannot be dumped, even with --ext-unix-sk$/) });
    });

    it('is recorded as CRIU records it with --ext-unix-sk when it is a named datagram socket', () => {
      const { target, path, held } = outside('dgram');
      const { table, error } = dumpWith(target.pid, true);
      expect(error).toBeUndefined();
      const own = table.entries.find((e) => e.usk?.ino === inodeOf(target.pid, 3))!.usk!;
      const peerIno = Number(fstat(held).ino);
      expect(own).toMatchObject({ type: SOCK.DGRAM, state: TCP_STATE.ESTABLISHED, peer: peerIno, uflags: 0 });
      const ext = table.entries.find((e) => e.usk?.ino === peerIno)!;
      expect(ext.id).toBe(table.entries.length); // numbered after every file of the tree
      expect(ext.usk).toEqual({
        id: ext.id, ino: peerIno, type: SOCK.DGRAM, state: TCP_STATE.LISTEN, flags: 0, uflags: USK_EXTERN, backlog: 0, peer: 0,
        fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 },
        opts: { so_sndbuf: 0, so_rcvbuf: 0, so_snd_tmo_sec: 0n, so_snd_tmo_usec: 0n, so_rcv_tmo_sec: 0n, so_rcv_tmo_usec: 0n },
        name: Buffer.from(`${path}\0`),
      });
      // Still connected: the program's datagram reaches us.
      signalProgram(target, 'SIGTERM');
      target.waitOutput(/PASS/);
      const buf = Buffer.alloc(64);
      const got = recvmsg(held, buf);
      expect(buf.subarray(0, got.bytes).toString()).toBe('still here');
    });
  });

  describe('queues that are hard to peek', () => {
    it('keeps a datagram longer than the peek buffer whole, and the next one after it', () => {
      const target = startProgram('sk_queue_edge', { args: ['big'] });
      const table = new FileTable();
      const ctx = newFdDumpContext(table);
      const fds = dumpFds(target.pid, ctx);
      finishFds(ctx);
      const packets = (ctx.extra.get('skQueues') ?? []) as Array<{ entry: { id_for: number; length: number }; extra: Uint8Array }>;
      expect(packets.map((p) => p.entry)).toEqual([
        { id_for: fds.find((f) => f.fd === 4)!.id, length: 300000 },
        { id_for: fds.find((f) => f.fd === 4)!.id, length: 4 },
      ]);
      const big = Buffer.from(packets[0]!.extra);
      expect(big.every((b, i) => b === i % 251)).toBe(true);
      expect(Buffer.from(packets[1]!.extra).toString()).toBe('tail');
      signalProgram(target, 'SIGTERM');
      target.waitOutput(/PASS/);
    });

    it('refuses a queued message that carries fds, and leaves it (and no fd of ours) behind', () => {
      const target = startProgram('sk_queue_edge', { args: ['rights'] });
      const before = readdirSync('/proc/self/fd').length;
      let error: unknown;
      try {
        dumpFds(target.pid, newFdDumpContext(new FileTable()));
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({
        code: 'FD_UNSUPPORTED',
        message: `task ${target.pid}, fd 4: a message queued on the socket carries 1 file descriptor(s) (SCM_RIGHTS), which are not dumped yet`,
      });
      expect(readdirSync('/proc/self/fd').length).toBe(before);
      signalProgram(target, 'SIGTERM');
      target.waitOutput(/PASS/);
    });
  });

  it('refuses a socket of another network namespace (sock_diag sees only ours)', () => {
    const target = startProgram('sk_queue_edge', { args: ['netns'] });
    const netns = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${target.pid}/ns/net`))![1];
    expect(netns).not.toBe(/^net:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/net'))![1]);
    expect(() => dumpFds(target.pid, newFdDumpContext(new FileTable()))).toThrow(
      expect.objectContaining({
        code: 'FD_UNSUPPORTED',
        message: expect.stringMatching(new RegExp(`^task ${target.pid}, fd 3: socket socket:\\[\\d+\\] lives in network namespace net:\\[${netns}\\], not the dumper's`)),
      }),
    );
    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  it('refuses an established TCP connection without --tcp-established, naming both ends, before touching it', () => {
    const server = socket(AF.INET, SOCK.STREAM | SOCK.CLOEXEC);
    ours.push(server);
    bind(server, { family: 'inet', address: '127.0.0.1', port: 0 });
    listen(server, { backlog: 1 });
    const serverPort = (getsockname(server) as Extract<SockAddr, { family: 'inet' }>).port;
    const target = startProgram('tcp_conn', { args: [String(serverPort)] });
    const conn = accept(server);
    ours.push(conn);
    const clientPort = (getpeername(conn) as Extract<SockAddr, { family: 'inet' }>).port;
    let error: unknown;
    try {
      dumpFds(target.pid, newFdDumpContext(new FileTable()));
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({
      code: 'FD_UNSUPPORTED',
      message:
        `task ${target.pid}, fd 3: TCP connection socket:[${inodeOf(target.pid, 3)}] 127.0.0.1:${clientPort} -> 127.0.0.1:${serverPort} is ESTABLISHED: ` +
        'dumping it needs --tcp-established (or --tcp-close)',
    });
    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/);
    const buf = Buffer.alloc(16);
    expect(buf.subarray(0, recvmsg(conn, buf).bytes).toString()).toBe('ok');
  });
});
