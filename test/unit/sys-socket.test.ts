// Real sockets through src/sys: fd passing, credentials, Unix/IPv4/IPv6 addresses (loopback only).
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accept,
  AF,
  bind,
  connect,
  decodeSockAddr,
  encodeSockAddr,
  F,
  fcntl,
  formatIPv6,
  fstat,
  getPeerCred,
  getpeername,
  getsockname,
  getsockopt,
  getsockoptInt,
  listen,
  MSG,
  O,
  open,
  parseIPv6,
  read,
  recvmsg,
  sendmsg,
  setsockopt,
  shutdown,
  SHUT,
  SO,
  SOCK,
  socket,
  socketpair,
  SOL,
  type SockAddr,
} from '../../src/sys/index.js';
import { withFds } from '../support/fds.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-ts-sys-sock-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});


describe('socket addresses', () => {
  it('prints and parses IPv6 the RFC 5952 way', () => {
    const cases: Array<[string, string]> = [
      ['::1', '::1'],
      ['::', '::'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
      ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
      ['fe80::1:2', 'fe80::1:2'],
      ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ];
    for (const [input, printed] of cases) expect(formatIPv6(parseIPv6(input))).toBe(printed);
    expect(parseIPv6('::1')[15]).toBe(1);
    expect(() => parseIPv6('1::2::3')).toThrow(TypeError);
    expect(() => parseIPv6('fe80::1%eth0')).toThrow(TypeError);
  });

  it('round-trips every family through its struct', () => {
    const cases: SockAddr[] = [
      { family: 'inet', address: '127.0.0.1', port: 8080 },
      { family: 'inet6', address: '2001:db8::42', port: 443, flowinfo: 7, scopeId: 3 },
      { family: 'unix', path: '/run/criu.sock' },
    ];
    for (const addr of cases) {
      const raw = encodeSockAddr(addr);
      expect(decodeSockAddr(raw, raw.length)).toEqual(addr);
    }
    const abstract = encodeSockAddr({ family: 'unix', path: 'criu-ts', abstract: true });
    expect(abstract.length).toBe(2 + 1 + 7);
    expect(decodeSockAddr(abstract, abstract.length)).toEqual({ family: 'unix', path: Buffer.from('criu-ts'), abstract: true });
    expect(encodeSockAddr({ family: 'inet', address: '1.2.3.4', port: 0x1234 }).subarray(2, 8)).toEqual(Buffer.from([0x12, 0x34, 1, 2, 3, 4]));
    expect(() => encodeSockAddr({ family: 'unix', path: 'x'.repeat(108) })).toThrow(RangeError);
  });
});

describe('fd passing over Unix sockets', () => {
  it('sends a real fd with SCM_RIGHTS; the received fd is the same open file', () => {
    const path = join(dir, 'passed.txt');
    writeFileSync(path, 'passed along');
    withFds((keep) => {
      const [a, b] = socketpair(AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC);
      keep(a);
      keep(b);
      const file = keep(open(path, { flags: O.RDONLY | O.CLOEXEC }));
      const other = keep(open('/dev/null'));
      expect(sendmsg(a, { data: Buffer.from('F'), fds: [file, other] })).toBe(1);
      const buf = Buffer.alloc(16);
      const msg = recvmsg(b, buf, { maxFds: 4, flags: MSG.CMSG_CLOEXEC });
      msg.fds.forEach(keep);
      expect(msg.bytes).toBe(1);
      expect(buf.subarray(0, 1).toString()).toBe('F');
      expect(msg.flags & MSG.CTRUNC).toBe(0);
      expect(msg.fds).toHaveLength(2);
      const [got, gotNull] = msg.fds as [number, number];
      expect(got).not.toBe(file);
      expect(fstat(got).ino).toBe(fstat(file).ino);
      expect(fstat(got).dev).toBe(fstat(file).dev);
      expect(readlinkSync(`/proc/self/fd/${got}`)).toBe(path);
      expect(readlinkSync(`/proc/self/fd/${gotNull}`)).toBe('/dev/null');
      expect(fcntl(got, F.GETFD)).toBe(1);
      // Same open file description: reading through one moves the offset of the other.
      const head = Buffer.alloc(6);
      expect(read(got, head)).toBe(6);
      const rest = Buffer.alloc(32);
      expect(read(file, rest)).toBe(6);
      expect(rest.subarray(0, 6).toString()).toBe(' along');
    });
  });

  it('drops fds it has no room for and says MSG_CTRUNC', () => {
    withFds((keep) => {
      const [a, b] = socketpair(AF.UNIX, SOCK.SEQPACKET | SOCK.CLOEXEC);
      keep(a);
      keep(b);
      const f1 = keep(open('/dev/null'));
      sendmsg(a, { data: [Buffer.from('x'), Buffer.from('yz')], fds: [f1, f1, f1] });
      const msg = recvmsg(b, [Buffer.alloc(2), Buffer.alloc(2)], { maxFds: 1 });
      msg.fds.forEach(keep);
      expect(msg.bytes).toBe(3);
      expect(msg.fds).toHaveLength(1);
      expect(msg.flags & MSG.CTRUNC).toBe(MSG.CTRUNC);
    });
  });

  it('passes credentials with SO_PASSCRED, and SO_PEERCRED names the peer', () => {
    withFds((keep) => {
      const [a, b] = socketpair(AF.UNIX, SOCK.DGRAM | SOCK.CLOEXEC);
      keep(a);
      keep(b);
      setsockopt(b, { level: SOL.SOCKET, name: SO.PASSCRED, value: 1 });
      expect(getsockoptInt(b, { level: SOL.SOCKET, name: SO.PASSCRED })).toBe(1);
      sendmsg(a, { data: Buffer.from('who') });
      const msg = recvmsg(b, Buffer.alloc(8), { wantCredentials: true });
      expect(msg.credentials).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
      expect(getPeerCred(a).pid).toBe(process.pid);
      expect(getsockoptInt(a, { level: SOL.SOCKET, name: SO.TYPE })).toBe(SOCK.DGRAM);
      expect(getsockopt(a, { level: SOL.SOCKET, name: SO.DOMAIN }).readInt32LE(0)).toBe(AF.UNIX);
    });
  });

  it('binds, listens, connects and accepts on an abstract Unix address', () => {
    const name = `criu-ts-test-${process.pid}`;
    withFds((keep) => {
      const server = keep(socket(AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC));
      bind(server, { family: 'unix', path: name, abstract: true });
      listen(server, { backlog: 4 });
      expect(getsockname(server)).toEqual({ family: 'unix', path: Buffer.from(name), abstract: true });
      const client = keep(socket(AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC));
      connect(client, { family: 'unix', path: name, abstract: true });
      const conn = keep(accept(server, { flags: SOCK.CLOEXEC }));
      expect(getpeername(client)).toEqual({ family: 'unix', path: Buffer.from(name), abstract: true });
      sendmsg(client, { data: Buffer.from('ping') });
      const buf = Buffer.alloc(4);
      expect(recvmsg(conn, buf).bytes).toBe(4);
      expect(buf.toString()).toBe('ping');
      shutdown(client, SHUT.WR);
      expect(recvmsg(conn, buf).bytes).toBe(0);
    });
  });

  it('binding a path that exists fails with EADDRINUSE', () => {
    const path = join(dir, 'sock');
    withFds((keep) => {
      const s1 = keep(socket(AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC));
      bind(s1, { family: 'unix', path });
      const s2 = keep(socket(AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC));
      expect(() => bind(s2, { family: 'unix', path }, { what: 'bind the second socket' })).toThrow(
        expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind' }),
      );
    });
  });
});

describe('IP sockets on loopback', () => {
  it('TCP over 127.0.0.1: addresses and data', () => {
    withFds((keep) => {
      const server = keep(socket(AF.INET, SOCK.STREAM | SOCK.CLOEXEC));
      setsockopt(server, { level: SOL.SOCKET, name: SO.REUSEADDR, value: 1 });
      bind(server, { family: 'inet', address: '127.0.0.1', port: 0 });
      listen(server);
      const local = getsockname(server);
      expect(local.family).toBe('inet');
      const port = (local as { port: number }).port;
      expect(port).toBeGreaterThan(0);
      const client = keep(socket(AF.INET, SOCK.STREAM | SOCK.CLOEXEC));
      connect(client, { family: 'inet', address: '127.0.0.1', port });
      const conn = keep(accept(server));
      expect(getpeername(conn)).toEqual(getsockname(client));
      sendmsg(conn, { data: Buffer.from('over tcp') });
      const buf = Buffer.alloc(8);
      expect(recvmsg(client, buf, { flags: MSG.WAITALL }).bytes).toBe(8);
      expect(buf.toString()).toBe('over tcp');
    });
  });

  it('UDP over ::1 with explicit destination and source addresses', () => {
    withFds((keep) => {
      const rx = keep(socket(AF.INET6, SOCK.DGRAM | SOCK.CLOEXEC));
      bind(rx, { family: 'inet6', address: '::1', port: 0 });
      const dest = getsockname(rx);
      const tx = keep(socket(AF.INET6, SOCK.DGRAM | SOCK.CLOEXEC));
      bind(tx, { family: 'inet6', address: '::1', port: 0 });
      sendmsg(tx, { data: Buffer.from('dgram'), addr: dest });
      const buf = Buffer.alloc(16);
      const msg = recvmsg(rx, buf, { wantAddr: true });
      expect(msg.bytes).toBe(5);
      expect(msg.addr).toEqual(getsockname(tx));
      expect((msg.addr as { address: string }).address).toBe('::1');
    });
  });

  it('connecting to a closed port is ECONNREFUSED', () => {
    withFds((keep) => {
      const probe = keep(socket(AF.INET, SOCK.STREAM | SOCK.CLOEXEC));
      bind(probe, { family: 'inet', address: '127.0.0.1', port: 0 });
      const { port } = getsockname(probe) as { port: number };
      const client = keep(socket(AF.INET, SOCK.STREAM | SOCK.CLOEXEC));
      expect(() => connect(client, { family: 'inet', address: '127.0.0.1', port })).toThrow(
        expect.objectContaining({ code: 'ECONNREFUSED', syscall: 'connect' }),
      );
    });
  });
});
