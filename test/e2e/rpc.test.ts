/**
 * `criu-ts swrk FD` and `criu-ts service --address PATH` driven by Debian's pycriu (/usr/bin/python3, test/support/rpc_client.py):
 * a dump of dump_target over RPC, its restore over RPC (the task runs with its PID and checks
 * itself: PASS on SIGTERM), CHECK and VERSION, and requests that fail — a PID that does not exist,
 * an option we refuse, a type we do not serve, a type no CRIU has — each answered with
 * success=false and a message, criu-ts exiting without a word on stdout or stderr. The bytes go
 * both ways between our codec and rpc_pb2: our requests parse there, their answers decode here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SCHEMA } from '../../src/images/generated/schema.js';
import { CriuReqType, type CriuReq } from '../../src/images/generated/types.js';
import { decodeMessage, encodeMessage, type PbMessage } from '../../src/images/wire.js';
import { CRIU_TS, REPO_ROOT } from '../support/paths.js';
import { cleanupPrograms, killAllPrograms, startProgram, workDir } from '../support/programs.js';
import { killRestored, statOf, waitGone } from '../support/restore.js';
import { waitUntil } from '../support/async.js';

const PYTHON = '/usr/bin/python3';
const CLIENT = join(REPO_ROOT, 'test', 'support', 'rpc_client.py');

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-rpc-'));
// pycriu execs a binary: a wrapper that runs the bundle with this node.
const wrapper = join(scratch, 'criu-ts');
writeFileSync(wrapper, `#!/bin/sh\nexec '${process.execPath}' '${CRIU_TS}' "$@"\n`);
chmodSync(wrapper, 0o755);

const restored = new Set<number>();
afterEach(() => {
  killRestored(restored);
  killAllPrograms();
});
afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

function runClient(args: string[]): Record<string, any> {
  const res = spawnSync(PYTHON, [CLIENT, ...args], { encoding: 'utf8', timeout: 120_000 });
  expect(res.stderr, `rpc_client ${args.join(' ')}`).toBe('');
  expect(res.status).toBe(0);
  return JSON.parse(res.stdout);
}

/** pycriu's criu class: `check`, `version`, `dump` or `restore` with these criu_opts, through swrk or (`sk:PATH`) the service. */
function pycriu(action: string, opts: Record<string, unknown> = {}, via = wrapper): Record<string, any> {
  return runClient(['pycriu', via, action, JSON.stringify(opts)]);
}

/** One request in raw bytes over a socketpair; the answer as rpc_pb2 and as our codec read it. */
function raw(request: Uint8Array): { result: Record<string, any>; ours: PbMessage } {
  const result = runClient(['raw', wrapper, Buffer.from(request).toString('hex')]);
  const ours = decodeMessage(SCHEMA, 'criu_resp', Buffer.from(result['response_hex'], 'hex'));
  return { result, ours };
}

function encodeRequest(req: CriuReq): Uint8Array {
  return encodeMessage(SCHEMA, 'criu_req', req as unknown as PbMessage);
}

describe('criu-ts swrk (RPC)', () => {
  it('dumps dump_target over RPC (killed after), restores it over RPC with its PID; it checks itself: PASS', () => {
    const target = startProgram('dump_target', { args: ['4', join(workDir(), 'rpc-data')] });
    target.waitOutput(/pattern/);
    const dir = join(scratch, 'images');
    mkdirSync(dir);

    const dumped = pycriu('dump', { pid: target.pid, images_dir: dir, leave_running: false, log_file: 'dump.log', log_level: 4 });
    expect(dumped).toEqual({ ok: true, dump: { restored: false } });
    waitGone(target.pid);
    expect(existsSync(join(dir, 'inventory.img'))).toBe(true);
    expect(readFileSync(join(dir, 'dump.log'), 'utf8')).toMatch(/dump finished: 1 task/);

    const back = pycriu('restore', { images_dir: dir, log_file: 'restore.log' });
    restored.add(target.pid);
    expect(back).toEqual({ ok: true, restore: { pid: target.pid } });
    expect(statOf(target.pid)).toMatchObject({ comm: 'dump_target', pgid: target.pid, sid: target.pid });
    expect(readFileSync(join(dir, 'restore.log'), 'utf8')).toMatch(/restore finished/);
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  it('CHECK succeeds; VERSION answers CRIU 4.2 and names criu-ts; rpc_pb2 and our codec read the same bytes', () => {
    expect(pycriu('check')).toEqual({ ok: true });

    const { result, ours } = raw(encodeRequest({ type: CriuReqType.VERSION }));
    expect(result['request']).toEqual({ type: 'VERSION' });
    expect(result['response']).toEqual({ type: 'VERSION', success: true, version: { major_number: 4, minor_number: 2, gitid: 'criu-ts-0.1.0', name: 'criu-ts' } });
    expect(ours).toEqual({ type: CriuReqType.VERSION, success: true, version: { major_number: 4, minor_number: 2, gitid: 'criu-ts-0.1.0', name: 'criu-ts' } });
    expect(result).toMatchObject({ exit: 0, stdout: '', stderr: '' });

    const features = raw(encodeRequest({ type: CriuReqType.FEATURE_CHECK, features: { mem_track: true, lazy_pages: true } }));
    expect(features.result['response']).toEqual({ type: 'FEATURE_CHECK', success: true, features: { mem_track: false, lazy_pages: false } });

    // A field our rpc.proto does not know (a newer client's; number 1000 here) is skipped, as protobuf-c does.
    const newer = raw(Uint8Array.from([...encodeRequest({ type: CriuReqType.VERSION }), 0xc0, 0x3e, 0x01]));
    expect(newer.ours).toMatchObject({ type: CriuReqType.VERSION, success: true });
    expect(newer.result).toMatchObject({ exit: 0, stdout: '', stderr: '' });
  });

  it('a dump of a PID that does not exist: success=false, ESRCH and a message; criu-ts exits quietly', () => {
    const dir = join(scratch, 'nobody');
    mkdirSync(dir);
    // images_dir (the path) with images_dir_fd -1, as newer clients may send.
    const req = encodeRequest({ type: CriuReqType.DUMP, opts: { images_dir_fd: -1, images_dir: dir, pid: 4_000_000 } });
    const { result, ours } = raw(req);
    // Debian's rpc_pb2 (CRIU 3.17) predates images_dir: it keeps it as an unknown field.
    expect(result['request']).toMatchObject({ type: 'DUMP', opts: { images_dir_fd: -1, pid: 4_000_000 } });
    expect(ours).toMatchObject({ type: CriuReqType.DUMP, success: false, cr_errno: 3 });
    expect(result['response']['cr_errmsg']).toMatch(/no process with PID 4000000/);
    expect(result).toMatchObject({ exit: 1, stdout: '', stderr: '' });
    expect(readFileSync(join(dir, 'criu.log'), 'utf8')).toMatch(/no process with PID 4000000/);

    // Through pycriu: its exception carries the errno.
    expect(pycriu('dump', { pid: 4_000_000, images_dir: dir })).toMatchObject({ ok: false, errno: 3 });
  });

  it('refuses options it does not implement, types it does not serve, and requests no CRIU knows', () => {
    const dir = join(scratch, 'refused');
    mkdirSync(dir);
    const scripts = raw(encodeRequest({ type: CriuReqType.DUMP, opts: { images_dir_fd: -1, images_dir: dir, pid: process.pid, notify_scripts: true } }));
    expect(scripts.ours).toMatchObject({ type: CriuReqType.DUMP, success: false, cr_errno: 56 });
    expect(scripts.result['response']['cr_errmsg']).toMatch(/does not support notify scripts/);
    expect(scripts.result).toMatchObject({ exit: 1, stdout: '', stderr: '' });

    const preDump = raw(encodeRequest({ type: CriuReqType.PRE_DUMP, opts: { images_dir_fd: -1, images_dir: dir } }));
    expect(preDump.ours).toMatchObject({ type: CriuReqType.PRE_DUMP, success: false });
    expect(preDump.result['response']['cr_errmsg']).toMatch(/does not serve PRE_DUMP requests/);
    expect(preDump.result).toMatchObject({ exit: 1, stdout: '', stderr: '' });

    // Type 99 (field 1, varint 99): no value of criu_req_type (rpc_pb2 keeps it as an unknown
    // field, leaving the request empty); the answer is EMPTY, as CRIU's to a request it cannot unpack.
    const unknown = raw(Uint8Array.of(0x08, 99));
    expect(unknown.result['request']).toEqual({});
    expect(unknown.ours).toMatchObject({ type: CriuReqType.EMPTY, success: false });
    expect(unknown.result['response']['cr_errmsg']).toMatch(/cannot decode the request/);
    expect(unknown.result).toMatchObject({ exit: 1, stdout: '', stderr: '' });
  });

  it('service --address: each connection served by a swrk child (dump, restore, VERSION, a failure); SIGTERM removes the socket', async () => {
    const sock = join(scratch, 'service.sock');
    const service = spawn(process.execPath, [CRIU_TS, 'service', '--address', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    service.stdout.on('data', (d) => (output += d));
    service.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((r) => service.on('exit', (code) => r(code)));
    try {
      await waitUntil(() => existsSync(sock), 'the service socket');
      const version = pycriu('version', {}, `sk:${sock}`);
      expect(version).toMatchObject({ ok: true, response: { type: 'VERSION', success: true, version: { major_number: 4, minor_number: 2 } } });

      const target = startProgram('dump_target', { args: ['4', join(workDir(), 'rpc-service-data')] });
      target.waitOutput(/pattern/);
      const dir = join(scratch, 'service-images');
      mkdirSync(dir);
      expect(pycriu('dump', { pid: target.pid, images_dir: dir }, `sk:${sock}`)).toEqual({ ok: true, dump: { restored: false } });
      waitGone(target.pid);
      expect(readFileSync(join(dir, 'criu.log'), 'utf8')).toMatch(/dump finished/);
      const back = pycriu('restore', { images_dir: dir, log_file: 'restore.log' }, `sk:${sock}`);
      restored.add(target.pid);
      expect(back).toEqual({ ok: true, restore: { pid: target.pid } });
      process.kill(target.pid, 'SIGTERM');
      target.waitOutput(/PASS/);

      expect(pycriu('dump', { pid: 4_000_000, images_dir: dir }, `sk:${sock}`)).toMatchObject({ ok: false, errno: 3 });
    } finally {
      service.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output).toBe('');
    expect(existsSync(sock)).toBe(false);
  });
});
