/**
 * Packet and netlink sockets, end to end, in a network namespace each test makes (with an `ifb`
 * interface, crt0, standing in for a real one) and removes: the host's network is never touched.
 * test/programs/packet_netlink.c joins the namespace and builds its sockets; criu-ts runs in the
 * same namespace (nsenter --net), as CRIU does for a tree whose network namespace it does not dump.
 *
 * - dump --leave-running: crit-ts and Debian's crit decode files.img and fdinfo alike, and they say
 *   what /proc/PID/net/packet and /proc/PID/net/netlink say; the program then still works;
 * - dump, kill, restore: the same port ids, the same entries when dumped again, and every socket
 *   works (a packet seen on lo and out of crt0, an address event, nlctrl's answer, a user message);
 * - a netlink port id taken at restore is given up for another (as CRIU does) and logged;
 * - crt0 gone at restore: NETDEV_MISSING naming the task, fd and interface; images with a ring:
 *   RESTORE_UNSUPPORTED; nothing left behind either way;
 * - refused at dump, the program untouched: an unread netlink message, a packet socket whose
 *   interface was removed, a packet ring, a mapped ring.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeImage, encodeImage } from '../../src/images/framing.js';
import { CRIT_TS, CRIU_TS } from '../support/paths.js';
import { cleanupPrograms, isDead, killAllPrograms, pause, startProgram, waitFor, type Target } from '../support/programs.js';
import { killRestored, pidTaken, seedsAlive, waitGone } from '../support/restore.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-packet-netlink-'));
const restored = new Set<number>();
let serial = 0;
let ns = '';

/** The namespace of the running test, as a path the program and nsenter take. */
const nsPath = () => `/run/netns/${ns}`;

function ip(args: string[]): void {
  execFileSync('ip', ['-n', ns, ...args], { stdio: 'pipe' });
}

beforeEach(() => {
  ns = `criu-ts-pknl-${process.pid}-${++serial}`;
  execFileSync('ip', ['netns', 'add', ns], { stdio: 'pipe' });
  ip(['link', 'set', 'lo', 'up']);
  ip(['link', 'add', 'crt0', 'type', 'ifb']);
  ip(['link', 'set', 'crt0', 'up']);
});

afterEach(() => {
  killRestored(restored);
  killAllPrograms();
  execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
});

afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

/** criu-ts in the test's network namespace. */
function criuTs(args: string[]): { status: number | null; stderr: string } {
  const res = spawnSync('nsenter', [`--net=${nsPath()}`, process.execPath, CRIU_TS, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: res.status, stderr: res.stderr };
}

function decode(tool: 'ours' | 'debian', file: string): Json {
  const res = tool === 'ours' ? spawnSync(process.execPath, [CRIT_TS, 'decode', '--pretty', '-i', file], { encoding: 'utf8' }) : spawnSync('crit', ['decode', '--pretty', '-i', file], { encoding: 'utf8' });
  expect(res.status, `${tool} decode ${file}: ${res.stderr}`).toBe(0);
  return JSON.parse(res.stdout) as Json;
}

function start(): Target {
  return startProgram('packet_netlink', { args: ['run', nsPath(), 'crt0'] });
}

/** The port ids the program printed ("ports ..." before the dump, "ports after ..." at SIGTERM). */
function ports(t: Target, after = false): number[] {
  return t.waitOutput(after ? /ports after (\d+) (\d+) (\d+) (\d+)/ : /ports (\d+) (\d+) (\d+) (\d+)/).slice(1).map(Number);
}

function inodeOf(pid: number, fd: number): number {
  return Number(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))![1]);
}

/** Rows of /proc/PID/net/<table> by inode (the last column), each as its columns. */
function procTable(pid: number, table: 'packet' | 'netlink'): Map<number, string[]> {
  const rows = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
  return new Map(rows.map((r) => r.trim().split(/\s+/)).map((cols) => [Number(cols[cols.length - 1]), cols]));
}

/** The socket entries of files.img (crit-ts' JSON) by the fd that names them (one task). */
function socketsByFd(dir: string): Map<number, Json> {
  const files = new Map<number, Json>((decode('ours', join(dir, 'files.img'))['entries'] as Json[]).map((e) => [e['id'], e]));
  const fdinfo = readdirSync(dir).find((n) => n.startsWith('fdinfo-'))!;
  const out = new Map<number, Json>();
  for (const e of decode('ours', join(dir, fdinfo))['entries'] as Json[]) {
    const f = files.get(e['id'])!;
    if (f['psk'] ?? f['nlsk']) out.set(e['fd'], { ...(f['psk'] ?? f['nlsk']), kind: e['type'] });
  }
  return out;
}

/** Adds the address the program waits for, then asks it to check everything: PASS or FAIL. */
function verdict(t: Target): string {
  ip(['addr', 'add', '10.99.0.1/24', 'dev', 'crt0']);
  process.kill(t.pid, 'SIGTERM');
  waitFor(() => /PASS|FAIL/.test(t.out()), `the verdict of ${t.name}`, 15_000);
  return t.out();
}

function tracerOf(pid: number): number {
  return Number(/TracerPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

describe('packet and netlink sockets', () => {
  it('dump --leave-running: both crits decode the images alike, as /proc/PID/net shows the sockets; the program works on', () => {
    const t = start();
    const [p5, p6, p7, p8] = ports(t);
    const dir = join(scratch, `leave-${serial}`);
    const out = criuTs(['dump', '-t', String(t.pid), '-D', dir, '-R', '-o', 'dump.log']);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(tracerOf(t.pid)).toBe(0);

    // Debian's crit 3.17 knows every field of these entries: the JSON is the same.
    const fdinfo = readdirSync(dir).find((n) => n.startsWith('fdinfo-'))!;
    for (const image of ['files.img', fdinfo]) expect(decode('debian', join(dir, image))).toEqual(decode('ours', join(dir, image)));

    const sk = socketsByFd(dir);
    expect([...sk.keys()].sort()).toEqual([3, 4, 5, 6, 7, 8, 9]);
    const packet = procTable(t.pid, 'packet');
    for (const fd of [3, 4]) {
      const [, , type, proto, iface] = packet.get(inodeOf(t.pid, fd))!;
      const e = sk.get(fd)!;
      expect(e['kind']).toBe('PACKETSK');
      // /proc shows the protocol in host order, the image keeps it as socket() takes it (htons).
      expect([e['type'], ((e['protocol'] & 0xff) << 8) | (e['protocol'] >> 8), e['ifindex']]).toEqual([Number(type), parseInt(proto!, 16), Number(iface)]);
    }
    expect(sk.get(3)).toMatchObject({
      type: 3, protocol: 0x0300, ifindex: 1, version: 1, reserve: 64, aux_data: true, orig_dev: true, vnet_hdr: true, loss: false, timestamp: 64, copy_thresh: 96,
      mclist: [{ index: 1, type: 1, addr: '' }], fanout: 0x80004242, opts: { so_priority: 3, so_filter: [0x0006000000040000] },
    });
    expect(sk.get(4)).toMatchObject({ type: 2, ifindex: 2, loss: true, vnet_hdr: false });
    expect((sk.get(4)!['mclist'] as Json[]).map((m) => `${m['type']}:${Buffer.from(m['addr'], 'base64').toString('hex')}`).sort()).toEqual(['0:01005e0000fb', '0:01005e0000fb', '2:']);
    expect(sk.get(4)!['fanout']).toBeUndefined();

    const netlink = procTable(t.pid, 'netlink');
    for (const fd of [5, 6, 7, 8]) {
      const [, eth, pid, groups] = netlink.get(inodeOf(t.pid, fd))!;
      const e = sk.get(fd)!;
      expect(e['kind']).toBe('NETLINKSK');
      expect([e['protocol'], e['portid'], (e['groups'] ?? [0])[0]]).toEqual([Number(eth), Number(pid), parseInt(groups!, 16)]);
    }
    expect(sk.get(5)).toMatchObject({ protocol: 0, portid: p5, groups: [0x10, 1], state: 7 });
    expect(sk.get(6)).toMatchObject({ protocol: 16, portid: p6, state: 1, dst_portid: 0, dst_group: 0 });
    expect(sk.get(7)).toMatchObject({ protocol: 2, portid: p7 });
    expect(sk.get(8)).toMatchObject({ protocol: 2, portid: p8, state: 1, dst_portid: p7 });
    // Never bound: in no table, recorded by its protocol alone (and without ns_id), as CRIU does.
    expect(netlink.has(inodeOf(t.pid, 9))).toBe(false);
    expect(sk.get(9)).toMatchObject({ protocol: 0, portid: 0, state: 0 });
    expect(sk.get(9)!['ns_id']).toBeUndefined();
    expect(sk.get(5)!['ns_id']).toBe(sk.get(3)!['ns_id']);

    expect(verdict(t)).toMatch(/^PASS$/m);
  });

  it('dump, kill, restore: the same port ids and entries, and every socket works (PASS)', () => {
    const t = start();
    const before = ports(t);
    const dir = join(scratch, `restore-${serial}`);
    expect(criuTs(['dump', '-t', String(t.pid), '-D', dir, '-o', 'dump.log'])).toEqual({ status: 0, stderr: '' });
    waitGone(t.pid);
    restored.add(t.pid); // killed after the test, whatever happens
    const out = criuTs(['restore', '-D', dir, '-d', '-o', 'restore.log']);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);

    // Dumped again, the restored sockets give the same entries (inodes aside).
    const again = join(scratch, `again-${serial}`);
    expect(criuTs(['dump', '-t', String(t.pid), '-D', again, '-R'])).toEqual({ status: 0, stderr: '' });
    const strip = (m: Map<number, Json>) => [...m].map(([fd, e]) => [fd, { ...e, ino: undefined }]);
    expect(strip(socketsByFd(again))).toEqual(strip(socketsByFd(dir)));

    expect(verdict(t)).toMatch(/^PASS$/m);
    expect(ports(t, true)).toEqual(before);
  });

  it('gives up a netlink port id that is taken at restore for one the kernel picks, as CRIU does, and says so', () => {
    const t = start();
    const before = ports(t);
    const dir = join(scratch, `taken-${serial}`);
    expect(criuTs(['dump', '-t', String(t.pid), '-D', dir])).toEqual({ status: 0, stderr: '' });
    waitGone(t.pid);
    // Someone else binds the generic netlink socket's port (protocol 16) meanwhile.
    startProgram('packet_netlink', { args: ['hold', nsPath(), '16', String(before[1])] });
    restored.add(t.pid); // killed after the test, whatever happens
    const out = criuTs(['restore', '-D', dir, '-d', '-o', 'restore.log']);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(readFileSync(join(dir, 'restore.log'), 'utf8')).toMatch(new RegExp(`Task ${t.pid}, fd 6: netlink socket \\(protocol 16, file \\d+\\): port id ${before[1]} is taken, bound to port \\d+ instead`));
    expect(verdict(t)).toMatch(/^PASS$/m);
    const after = ports(t, true);
    expect(after[1]).not.toBe(before[1]);
    expect([after[0], after[2], after[3]]).toEqual([before[0], before[2], before[3]]);
  });

  it('refuses a packet socket whose interface is gone (NETDEV_MISSING: task, fd, interface) and leaves nothing behind', () => {
    const t = start();
    const dir = join(scratch, `gone-${serial}`);
    expect(criuTs(['dump', '-t', String(t.pid), '-D', dir])).toEqual({ status: 0, stderr: '' });
    waitGone(t.pid);
    ip(['link', 'del', 'crt0']);
    const out = criuTs(['restore', '-D', dir, '-d']);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`Task ${t.pid}, fd 4: packet socket \\(file \\d+\\) needs network interface 2, which this network namespace does not have \\[NETDEV_MISSING\\]`));
    expect(pidTaken(t.pid)).toBe(false);
    expect(seedsAlive()).toEqual([]);
  });

  it('refuses images with a packet ring (RESTORE_UNSUPPORTED: task, fd) and leaves nothing behind', () => {
    const t = start();
    const dir = join(scratch, `ring-image-${serial}`);
    expect(criuTs(['dump', '-t', String(t.pid), '-D', dir])).toEqual({ status: 0, stderr: '' });
    waitGone(t.pid);
    // What CRIU writes for a socket with an RX ring (its mapping aside).
    const file = join(dir, 'files.img');
    const image = decodeImage(readFileSync(file));
    const psk = image.entries.map((e) => e.message['psk'] as Json | undefined).find((p) => p !== undefined && p['type'] === 3)!;
    psk['rx_ring'] = { block_size: 4096, block_nr: 1, frame_size: 2048, frame_nr: 2, retire_tmo: 0, sizeof_priv: 0, features: 0 };
    writeFileSync(file, encodeImage(image));
    const out = criuTs(['restore', '-D', dir, '-d']);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`Task ${t.pid}, fd 3: packet socket \\(file \\d+\\) has a PACKET_RX_RING: packet rings are not restored yet \\[RESTORE_UNSUPPORTED\\]`));
    expect(pidTaken(t.pid)).toBe(false);
    expect(seedsAlive()).toEqual([]);
  });

  it('refuses an unread netlink message (as CRIU does) and leaves the program as it was: the message is still there for it', () => {
    const t = start();
    ip(['addr', 'add', '10.99.0.1/24', 'dev', 'crt0']);
    waitFor(() => Number(procTable(t.pid, 'netlink').get(inodeOf(t.pid, 5))![4]) > 0, 'the address event to be queued on fd 5');
    const out = criuTs(['dump', '-t', String(t.pid), '-D', join(scratch, `queued-${serial}`)]);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`task ${t.pid}, fd 5: netlink socket socket:\\[\\d+\\] has a \\d+-byte message \\(and maybe more\\) waiting to be read.*\\[FD_UNSUPPORTED\\]`));
    expect(isDead(t.pid)).toBe(false);
    expect(tracerOf(t.pid)).toBe(0);
    // The address is there already: on SIGTERM it reads the event that was queued before the dump.
    process.kill(t.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(t.out()), 'the verdict', 15_000);
    expect(t.out()).toMatch(/^PASS$/m);
  });

  it('refuses a packet socket whose interface was removed under it (FD_UNSUPPORTED) and leaves the program running', () => {
    const t = start();
    ip(['link', 'del', 'crt0']);
    const out = criuTs(['dump', '-t', String(t.pid), '-D', join(scratch, `removed-${serial}`)]);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`task ${t.pid}, fd 4: packet socket socket:\\[\\d+\\] was bound to a network interface that has been removed since.*\\[FD_UNSUPPORTED\\]`));
    expect(isDead(t.pid)).toBe(false);
    expect(tracerOf(t.pid)).toBe(0);
  });

  it('refuses a packet socket with a ring (FD_UNSUPPORTED) or a mapped ring, and the program runs on', () => {
    for (const mode of [[], ['map']]) {
      const t = startProgram('packet_netlink', { args: ['ring', nsPath(), ...mode] });
      const out = criuTs(['dump', '-t', String(t.pid), '-D', join(scratch, `ring-${serial}-${mode.length}`)]);
      expect(out.status).toBe(1);
      if (mode.length === 0) expect(out.stderr).toMatch(new RegExp(`task ${t.pid}, fd 3: packet socket socket:\\[\\d+\\] has PACKET_RX_RING \\(2 frames\\): packet rings are not dumped \\[FD_UNSUPPORTED\\]`));
      else expect(out.stderr).toMatch(new RegExp(`task ${t.pid}: mapping [0-9a-f]+-[0-9a-f]+ socket:\\[\\d+\\]: a mapped socket \\(a packet socket ring, a TCP zero-copy area\\), which is not dumped \\[VMA_UNSUPPORTED\\]`));
      expect(isDead(t.pid)).toBe(false);
      pause(50);
      expect(tracerOf(t.pid)).toBe(0);
      process.kill(t.pid, 'SIGTERM');
      t.waitOutput(/PASS/);
    }
  });
});
