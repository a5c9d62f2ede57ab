/**
 * `criu-ts restore -D DIR [-d|--restore-detached] [--pidfile F] [-o LOG] [-v[N]] [--tcp-established]
 * [--tcp-close]`: CRIU's restore
 * command. Attached (the default), criu-ts stays the parent of the restored root, forwards SIGINT,
 * SIGTERM and SIGHUP to it, and exits with its exit code (128 + the signal if a signal killed it);
 * with -d it exits once the tree runs. The log goes into the images directory, like CRIU's -o.
 * A signal during the restore itself abandons it: every task created is killed.
 *
 * `--unshare pid` restores the tree into a PID namespace (and a /proc) of its own, so that PIDs in
 * use here do not stop it (CRIU's criu-ns wrapper does this around criu restore). The pidfile then
 * gets the root's PID on this machine, and attached criu-ts waits for the namespace's init, which
 * exits with the root's exit code once the last task of the namespace is gone.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CriuTsError } from '../errors.js';
import { restoreTree } from '../restore/restore.js';
import { keepTerminalSettingsAtExit } from '../restore/shell_job.js';
import { isSysError, kill, wait4, WAIT } from '../sys/index.js';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

export async function restoreCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    // `-v` alone means "verbose", like CRIU's; `-v4` and `--verbosity=4` carry a level.
    args: args.map((a) => (a === '-v' || a === '--verbose' ? '-v4' : a)),
    options: {
      'images-dir': { type: 'string', short: 'D' },
      'restore-detached': { type: 'boolean', short: 'd', default: false },
      pidfile: { type: 'string' },
      'log-file': { type: 'string', short: 'o' },
      verbosity: { type: 'string', short: 'v' },
      'shell-job': { type: 'boolean', short: 'j', default: false },
      'tcp-established': { type: 'boolean', default: false },
      'tcp-close': { type: 'boolean', default: false },
      'ext-unix-sk': { type: 'boolean', default: false },
      unshare: { type: 'string' },
    },
    allowNegative: false,
  });
  if (values.unshare !== undefined && values.unshare !== 'pid') {
    throw new CriuTsError('USAGE', `--unshare ${values.unshare}: only the pid namespace can be unshared (--unshare pid)`);
  }
  const dir = values['images-dir'] ?? '.';
  const logFile = values['log-file'] === undefined ? undefined : isAbsolute(values['log-file']) ? values['log-file'] : join(dir, values['log-file']);
  const verbose = values.verbosity !== undefined && values.verbosity !== '0';
  const log = (message: string) => {
    const line = `(${(performance.now() / 1000).toFixed(6)}) ${message}\n`;
    if (logFile) appendFileSync(logFile, line);
    if (verbose) process.stderr.write(line);
  };

  let stop: NodeJS.Signals | undefined;
  let root = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (root === 0) {
      stop = signal;
      return;
    }
    try {
      kill(root, SIGNAL_NUMBERS[signal]!);
    } catch {
      // gone already
    }
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    const result = await restoreTree({
      imagesDir: dir,
      log,
      interrupted: () => stop !== undefined,
      tcpEstablished: values['tcp-established'],
      tcpClose: values['tcp-close'],
      extUnixSk: values['ext-unix-sk'],
      shellJob: values['shell-job'],
      unsharePid: values.unshare === 'pid',
    });
    root = result.rootHostPid;
    // A shell job keeps the terminal settings it was given once criu-ts is gone.
    if (values['shell-job']) keepTerminalSettingsAtExit();
    if (values.pidfile !== undefined) writeFileSync(values.pidfile, `${root}\n`);
    const where = result.initPid === undefined ? '' : ` (PID ${root} here, in a PID namespace whose init is ${result.initPid})`;
    log(`restore finished: ${result.pids.length} task(s), root ${result.rootPid}${where}, ${result.stats.totalMs.toFixed(1)} ms`);
    if (values['restore-detached']) return 0;
    return await waitForRoot(result.initPid ?? root, log);
  } catch (err) {
    log(`Error: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}

/**
 * `wait4(-1, &status, __WALL | WNOHANG)` every few ms (the event loop stays free for the signal
 * handlers that forward signals), reaping orphans of the tree that fall back to us on the way,
 * until the root ends. Returns its exit code, or 128 + the signal that killed it.
 */
async function waitForRoot(root: number, log: (m: string) => void): Promise<number> {
  for (;;) {
    let got;
    try {
      got = wait4(-1, { flags: WAIT.ALL | WAIT.NOHANG });
    } catch (err) {
      if (isSysError(err, 'ECHILD')) throw new CriuTsError('RESTORE_LOST_ROOT', `The restored root ${root} is not a child of criu-ts`);
      throw err;
    }
    if (got !== null && got.pid === root) {
      const st = got.status;
      if (st.kind === 'exited') {
        log(`task ${root} exited with code ${st.code}`);
        return st.code;
      }
      if (st.kind === 'signaled') {
        log(`task ${root} was killed by signal ${st.signal}`);
        return 128 + st.signal;
      }
      continue;
    }
    if (got !== null) continue;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
