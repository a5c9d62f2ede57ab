/**
 * `criu-ts dump -t PID -D DIR [-R|--leave-running] [-s|--leave-stopped] [-o LOG] [-v[N]]
 *  [--timeout SECONDS] [--pidfile FILE] [-j|--shell-job] [--ext-unix-sk] [--tcp-established]
 *  [--tcp-close] [--skip-in-flight]`:
 * CRIU's dump command. The log goes into the images directory (like CRIU's -o); SIGINT, SIGTERM
 * and SIGHUP stop the dump cleanly (the tree runs on, no images land).
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CriuTsError } from '../errors.js';
import { dumpTree, type AfterDump } from '../dump/dump.js';

export async function dumpCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      tree: { type: 'string', short: 't' },
      'images-dir': { type: 'string', short: 'D' },
      'leave-running': { type: 'boolean', short: 'R', default: false },
      'leave-stopped': { type: 'boolean', short: 's', default: false },
      'log-file': { type: 'string', short: 'o' },
      verbosity: { type: 'string', short: 'v' },
      'shell-job': { type: 'boolean', short: 'j', default: false },
      'tcp-established': { type: 'boolean', default: false },
      'tcp-close': { type: 'boolean', default: false },
      'skip-in-flight': { type: 'boolean', default: false },
      'ext-unix-sk': { type: 'boolean', default: false },
      pidfile: { type: 'string' },
      timeout: { type: 'string' },
    },
    allowNegative: false,
  });
  const pid = Number(values.tree);
  if (!Number.isInteger(pid) || pid <= 0) throw new CriuTsError('USAGE', 'dump needs -t PID (the root of the tree)');
  const dir = values['images-dir'] ?? '.';
  if (values['leave-running'] && values['leave-stopped']) throw new CriuTsError('USAGE', '--leave-running and --leave-stopped exclude each other');
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && !(timeout > 0)) throw new CriuTsError('USAGE', `--timeout takes a number of seconds, not '${values.timeout}'`);
  const after: AfterDump = values['leave-running'] ? 'leave-running' : values['leave-stopped'] ? 'leave-stopped' : 'kill';
  mkdirSync(dir, { recursive: true });
  const logFile = values['log-file'] === undefined ? undefined : isAbsolute(values['log-file']) ? values['log-file'] : join(dir, values['log-file']);
  const verbose = values.verbosity !== undefined && values.verbosity !== '0';
  const log = (message: string) => {
    const line = `(${(performance.now() / 1000).toFixed(6)}) ${message}\n`;
    if (logFile) appendFileSync(logFile, line);
    if (verbose) process.stderr.write(line);
  };

  let stop: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    stop = signal;
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    const result = await dumpTree(pid, {
      imagesDir: dir,
      after,
      log,
      interrupted: () => stop !== undefined,
      shellJob: values['shell-job'],
      extUnixSk: values['ext-unix-sk'],
      tcpEstablished: values['tcp-established'],
      tcpClose: values['tcp-close'],
      skipInFlight: values['skip-in-flight'],
      ...(timeout === undefined ? {} : { freezeTimeoutMs: timeout * 1000 }),
    });
    if (values.pidfile !== undefined) writeFileSync(values.pidfile, `${pid}\n`);
    log(`dump finished: ${result.pids.length} task(s), ${result.stats.pagesWritten} pages`);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`Error: ${message}`);
    throw err;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}
