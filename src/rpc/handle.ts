/**
 * Answers one `criu_req`: DUMP, RESTORE, CHECK, VERSION and FEATURE_CHECK are served; any other
 * type gets `success: false` with a message saying so. A failure never escapes as an exception:
 * it becomes `cr_errno` (an errno, as CRIU reports: ESRCH for a dump of a missing PID, EEXIST for
 * a restore whose PID is taken, EBADRQC for options refused) and `cr_errmsg`.
 */
import { existsSync } from 'node:fs';
import { CriuTsError } from '../errors.js';
import { CriuReqType, type CriuFeatures, type CriuOpts, type CriuReq, type CriuResp } from '../images/generated/types.js';
import { isSysError } from '../sys/index.js';
import { CRIU_COMPAT, VERSION } from '../version.js';
import { dumpOptions, refusedOptions, restoreOptions, setupRequest } from './opts.js';

const ESRCH = 3;
const EEXIST = 17;
const EINVAL = 22;
const EBADRQC = 56;

const TYPE_NAMES = Object.fromEntries(Object.entries(CriuReqType).map(([name, n]) => [n, name])) as Record<number, string>;

export interface HandleContext {
  /** The client's PID (SO_PEERCRED): whose fds images_dir_fd and work_dir_fd are. */
  clientPid: number;
  /** Set while a dump or restore runs when a signal asks criu-ts to stop. */
  interrupted: () => boolean;
}

/** A failed request's answer. */
export function failure(type: number, errmsg: string, errno?: number): CriuResp {
  return { type, success: false, ...(errno === undefined ? {} : { cr_errno: errno }), cr_errmsg: errmsg };
}

function errnoOf(err: unknown): number | undefined {
  if (isSysError(err)) return err.errno;
  if (err instanceof CriuTsError) {
    if (err.code === 'PID_TAKEN') return EEXIST;
    if (err.code.startsWith('RPC_BAD')) return EBADRQC;
  }
  return undefined;
}

function failed(type: number, err: unknown, log?: (m: string) => void): CriuResp {
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof CriuTsError ? ` [${err.code}]` : '';
  log?.(`Error: ${message}${code}`);
  return failure(type, `${message}${code}`, errnoOf(err));
}

function checkRefused(type: number, opts: CriuOpts): CriuResp | null {
  const refused = refusedOptions(opts);
  if (refused.length === 0) return null;
  return failure(type, `criu-ts does not support ${refused.join(', ')}`, EBADRQC);
}

type Setup = ReturnType<typeof setupRequest>;

/**
 * The common frame of DUMP and RESTORE: opts required, refused options answered, the images and
 * log set up from the client's fds, and any failure turned into an answer (logged).
 */
async function withSetup(type: number, req: CriuReq, ctx: HandleContext, run: (opts: CriuOpts, setup: Setup) => Promise<CriuResp>): Promise<CriuResp> {
  if (req.opts === undefined) return failure(type, `a ${TYPE_NAMES[type]} request needs opts`, EBADRQC);
  const refused = checkRefused(type, req.opts);
  if (refused) return refused;
  let log: ((m: string) => void) | undefined;
  try {
    const setup = setupRequest(req.opts, ctx.clientPid);
    log = setup.log;
    return await run(req.opts, setup);
  } catch (err) {
    return failed(type, err, log);
  }
}

function dump(req: CriuReq, ctx: HandleContext): Promise<CriuResp> {
  const type = CriuReqType.DUMP;
  return withSetup(type, req, ctx, async (opts, { imagesDir, log }) => {
    // Like CRIU, a request without a PID dumps the client itself.
    const pid = opts.pid ?? ctx.clientPid;
    log(`RPC dump of ${pid} into ${imagesDir}`);
    if (!(pid > 0) || !existsSync(`/proc/${pid}`)) {
      log(`Error: no process with PID ${pid}`);
      return failure(type, `no process with PID ${pid} to dump`, ESRCH);
    }
    const { dumpTree } = await import('../dump/dump.js');
    const result = await dumpTree(pid, { ...dumpOptions(opts, imagesDir), log, interrupted: ctx.interrupted });
    log(`dump finished: ${result.pids.length} task(s), ${result.stats.pagesWritten} pages`);
    return { type, success: true, dump: { restored: false } };
  });
}

function restore(req: CriuReq, ctx: HandleContext): Promise<CriuResp> {
  const type = CriuReqType.RESTORE;
  return withSetup(type, req, ctx, async (opts, { imagesDir, log }) => {
    log(`RPC restore from ${imagesDir}`);
    const { restoreTree } = await import('../restore/restore.js');
    // Always detached, as CRIU's RPC restores are: the tree outlives criu-ts.
    const result = await restoreTree({ ...restoreOptions(opts, imagesDir), log, interrupted: ctx.interrupted });
    log(`restore finished: ${result.pids.length} task(s), root ${result.rootHostPid}, ${result.stats.totalMs.toFixed(1)} ms`);
    return { type, success: true, restore: { pid: result.rootHostPid } };
  });
}

async function check(): Promise<CriuResp> {
  const type = CriuReqType.CHECK;
  try {
    const { runCheck } = await import('../cli/check.js');
    const result = runCheck({});
    if (result.exitCode === 0) return { type, success: true };
    return failure(type, result.stderr.join('; ') || result.stdout.join('; '));
  } catch (err) {
    return failed(type, err);
  }
}

function version(): CriuResp {
  return {
    type: CriuReqType.VERSION,
    success: true,
    // Clients compare major/minor with CRIU releases: we answer the one we follow, and say who we are.
    version: { major_number: CRIU_COMPAT.major, minor_number: CRIU_COMPAT.minor, gitid: `criu-ts-${VERSION}`, name: 'criu-ts' },
  };
}

/** None of the optional features (memory tracking, lazy pages, the pidfd store) is built: each one asked for is false. */
function featureCheck(req: CriuReq): CriuResp {
  const asked = req.features ?? {};
  const features: CriuFeatures = {};
  for (const key of ['mem_track', 'lazy_pages', 'pidfd_store'] as const) {
    if (asked[key] !== undefined) features[key] = false;
  }
  return { type: CriuReqType.FEATURE_CHECK, success: true, features };
}

export async function handleRequest(req: CriuReq, ctx: HandleContext): Promise<CriuResp> {
  switch (req.type) {
    case CriuReqType.DUMP:
      return dump(req, ctx);
    case CriuReqType.RESTORE:
      return restore(req, ctx);
    case CriuReqType.CHECK:
      return check();
    case CriuReqType.VERSION:
      return version();
    case CriuReqType.FEATURE_CHECK:
      return featureCheck(req);
    default:
      return failure(req.type, `criu-ts does not serve ${TYPE_NAMES[req.type] ?? `type ${req.type}`} requests (it serves DUMP, RESTORE, CHECK, VERSION, FEATURE_CHECK)`, EINVAL);
  }
}
