/**
 * Datagram and raw inet sockets through a dump (killed) and a restore: UDP over IPv4 and IPv6
 * (bound, connected), an ICMP "ping" socket (its echo id and its peer), raw ICMP and ICMPv6
 * sockets with their type filters, a raw UDP socket with IP_HDRINCL and IP_NODEFRAG
 * (test/programs/inet_dgram.c checks each and that they still work, then prints PASS).
 *
 * Everything runs in a network namespace of the test's own (lo up, ping sockets allowed for
 * root), entered with nsenter so that only the network namespace differs; the dump decodes with
 * Debian's crit too.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageDir } from '../../src/images/image_dir.js';
import { readEntries } from '../../src/images/typed.js';
import { CRIU_TS } from '../support/paths.js';
import { cleanupPrograms, signalProgram, startProgram, waitFor } from '../support/programs.js';
import { pidTaken, waitGone } from '../support/restore.js';

const netns = `criu-ts-inet-${process.pid}`;
const enter = ['nsenter', `--net=/var/run/netns/${netns}`];
const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-inet-'));

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', netns]);
  execFileSync('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
  execFileSync('ip', ['netns', 'exec', netns, 'sysctl', '-q', '-w', 'net.ipv4.ping_group_range=0 0']);
});
afterAll(() => {
  cleanupPrograms();
  spawnSync('ip', ['netns', 'del', netns]);
  rmSync(scratch, { recursive: true, force: true });
});

function criuTsInNetns(args: string[]): { status: number | null; stderr: string } {
  const res = spawnSync(enter[0]!, [...enter.slice(1), process.execPath, CRIU_TS, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: res.status, stderr: res.stderr };
}

describe('UDP, ping and raw sockets', () => {
  it('are dumped as CRIU records them and come back working', () => {
    const target = startProgram('inet_dgram', { wrapper: enter });
    const dir = join(scratch, 'images');
    const dump = criuTsInNetns(['dump', '-t', String(target.pid), '-D', dir, '-o', 'dump.log']);
    expect(dump.stderr).toBe('');
    expect(dump.status).toBe(0);

    const socks = readEntries(ImageDir.open(dir), 'files').flatMap((f) => (f.isk === undefined ? [] : [f.isk]));
    const view = socks.map((s) => ({ family: s.family, type: s.type, proto: s.proto, state: s.state, raw: s.ip_opts?.raw }));
    expect(view).toEqual([
      { family: 2, type: 2, proto: 17, state: 1, raw: undefined },
      { family: 2, type: 2, proto: 17, state: 7, raw: undefined },
      { family: 10, type: 2, proto: 17, state: 7, raw: undefined },
      { family: 2, type: 2, proto: 1, state: 1, raw: undefined },
      { family: 2, type: 3, proto: 1, state: 7, raw: { icmpv_filter: [0xfffffffe] } },
      { family: 10, type: 3, proto: 58, state: 7, raw: { icmpv_filter: [~0 >>> 0, ~0 >>> 0, ~0 >>> 0, ~0 >>> 0, 0xfffffffd, ~0 >>> 0, ~0 >>> 0, ~0 >>> 0] } },
      { family: 2, type: 3, proto: 17, state: 7, raw: { hdrincl: true, nodefrag: true } },
    ]);
    expect(socks[3]!.src_port).toBe(4242); // the ping socket's echo id
    expect(socks[3]!.dst_addr).toEqual([0x0100007f]); // its peer, 127.0.0.1, from /proc/PID/net/icmp
    const crit = spawnSync('crit', ['decode', '-i', join(dir, 'files.img')], { encoding: 'utf8' });
    expect(crit.status, crit.stderr).toBe(0);

    waitGone(target.pid);
    const restore = criuTsInNetns(['restore', '-D', dir, '-d', '-o', 'restore.log']);
    expect(restore.stderr).toBe('');
    expect(restore.status).toBe(0);
    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS|FAIL.*/);
    expect(target.out()).toBe('PASS\n');
    waitFor(() => !pidTaken(target.pid), `task ${target.pid} to exit`, 10_000);
  });
});
