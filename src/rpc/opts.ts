/**
 * What a request's `criu_opts` mean for us: where the images and the log are, and the options of
 * a dump or a restore. Like CRIU, the directories come as fds of the client, opened here through
 * /proc/<client>/fd/N (the client need not let us inherit them); the log goes into the work
 * directory (the images directory unless `work_dir_fd` is given), `criu.log` unless `log_file`
 * names another file there. Options criu-ts cannot honour are refused with a message naming them.
 */
import { appendFileSync, existsSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CriuTsError } from '../errors.js';
import type { AfterDump, DumpOptions } from '../dump/dump.js';
import type { CriuOpts } from '../images/generated/types.js';
import type { RestoreOptions } from '../restore/restore.js';

export const DEFAULT_LOG_FILE = 'criu.log';

/** Options that change what a dump or restore does and that criu-ts does not implement. */
const REFUSED: Array<[keyof CriuOpts, string]> = [
  ['notify_scripts', 'notify scripts (action scripts run through the client)'],
  ['ps', 'the page server'],
  ['parent_img', 'incremental dumps (parent_img)'],
  ['track_mem', 'memory tracking (track_mem)'],
  ['lazy_pages', 'lazy pages'],
  ['exec_cmd', 'exec_cmd'],
  ['veths', 'veth pairs'],
  ['ext_mnt', 'external mounts (ext_mnt)'],
  ['inherit_fd', 'inherit_fd'],
  ['external', 'external resources (external)'],
  ['join_ns', 'joining namespaces (join_ns)'],
  ['unix_sk_ino', 'unix_sk_ino'],
  ['rst_sibling', 'restoring as a sibling (rst_sibling)'],
  ['tls', 'TLS'],
  ['status_fd', 'status_fd'],
  ['pidfd_store_sk', 'pidfd_store_sk'],
  ['freeze_cgroup', 'freezing through a cgroup (freeze_cgroup)'],
  ['empty_ns', 'empty_ns'],
  ['orphan_pts_master', 'orphan_pts_master'],
  ['config_file', 'config files (config_file)'],
];

/** Whether an option is set to something other than its "off" value. */
function isOn(value: unknown): boolean {
  if (value === undefined || value === false || value === '' || value === 0) return false;
  if (Array.isArray(value)) return value.length > 0;
  return true;
}

/** The options a request sets that criu-ts does not implement, described; empty when none. */
export function refusedOptions(opts: CriuOpts): string[] {
  const out = REFUSED.filter(([key]) => isOn(opts[key])).map(([key, what]) => `${what} [${String(key)}]`);
  if (opts.root !== undefined && opts.root !== '/' && opts.root !== '') out.push(`a root other than / [root]`);
  return out;
}

/** A directory the client passed as its fd `fd`: the path it names, or /proc/<client>/fd/<fd>. */
function clientDir(clientPid: number, fd: number, what: string): string {
  const viaProc = `/proc/${clientPid}/fd/${fd}`;
  let st;
  try {
    st = statSync(viaProc);
  } catch (err) {
    throw new CriuTsError('RPC_BAD_OPTIONS', `${what} fd ${fd} of the client (PID ${clientPid}) cannot be opened: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new CriuTsError('RPC_BAD_OPTIONS', `${what} fd ${fd} of the client (PID ${clientPid}) is not a directory`);
  // The path, when it still names that directory: it stays valid if the client closes the fd.
  try {
    const target = readlinkSync(viaProc);
    if (target.startsWith('/') && existsSync(target) && statSync(target).ino === st.ino && statSync(target).dev === st.dev) return target;
  } catch {
    // keep the /proc path
  }
  return viaProc;
}

export interface RequestSetup {
  imagesDir: string;
  workDir: string;
  logFile: string;
  log: (message: string) => void;
}

/** Resolves the directories and opens the log of a dump or restore request. */
export function setupRequest(opts: CriuOpts, clientPid: number): RequestSetup {
  let imagesDir: string;
  if (opts.images_dir_fd >= 0) imagesDir = clientDir(clientPid, opts.images_dir_fd, 'images_dir_fd');
  else if (opts.images_dir !== undefined && opts.images_dir !== '') imagesDir = opts.images_dir;
  else throw new CriuTsError('RPC_BAD_OPTIONS', 'the request names no images directory (images_dir_fd or images_dir)');
  const workDir = opts.work_dir_fd === undefined ? imagesDir : clientDir(clientPid, opts.work_dir_fd, 'work_dir_fd');
  const name = opts.log_file ?? DEFAULT_LOG_FILE;
  if (name.includes('/') || name === '' || name === '.' || name === '..') {
    throw new CriuTsError('RPC_BAD_OPTIONS', `log_file '${name}' must be a file name in the work directory, without '/'`);
  }
  const logFile = join(workDir, name);
  const toStderr = opts.log_to_stderr === true;
  const log = (message: string) => {
    const line = `(${(performance.now() / 1000).toFixed(6)}) ${message}\n`;
    try {
      appendFileSync(logFile, line);
    } catch {
      // a log that cannot be written does not fail the request
    }
    if (toStderr) process.stderr.write(line);
  };
  return { imagesDir, workDir, logFile, log };
}

/** The dump options of a request (the caller adds `log` and `interrupted`). */
export function dumpOptions(opts: CriuOpts, imagesDir: string): DumpOptions {
  if (opts.leave_running && opts.leave_stopped) throw new CriuTsError('RPC_BAD_OPTIONS', 'leave_running and leave_stopped exclude each other');
  const after: AfterDump = opts.leave_running ? 'leave-running' : opts.leave_stopped ? 'leave-stopped' : 'kill';
  return {
    imagesDir,
    after,
    shellJob: opts.shell_job ?? false,
    extUnixSk: opts.ext_unix_sk ?? false,
    tcpEstablished: opts.tcp_established ?? false,
    tcpClose: opts.tcp_close ?? false,
    skipInFlight: opts.tcp_skip_in_flight ?? false,
    ...(opts.timeout ? { freezeTimeoutMs: opts.timeout * 1000 } : {}),
  };
}

/** The restore options of a request (the caller adds `log` and `interrupted`). */
export function restoreOptions(opts: CriuOpts, imagesDir: string): RestoreOptions {
  return {
    imagesDir,
    shellJob: opts.shell_job ?? false,
    extUnixSk: opts.ext_unix_sk ?? false,
    tcpEstablished: opts.tcp_established ?? false,
    tcpClose: opts.tcp_close ?? false,
  };
}
