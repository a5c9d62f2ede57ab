#!/usr/bin/env node
/**
 * criu-ts: the criu-compatible command line. Commands land here as they are built; today:
 *
 *   criu-ts check [--extra] [--experimental] [--all] [--feature NAME] [--json] [-v]
 *   criu-ts dump -t PID -D DIR [-R|--leave-running] [-s|--leave-stopped] [-o LOG] [-v[N]]
 *   criu-ts restore -D DIR [-d|--restore-detached] [--pidfile F] [-o LOG] [-v[N]]
 *   criu-ts swrk FD
 *   criu-ts service [--address PATH] [--pidfile FILE]
 */
import { parseArgs } from 'node:util';
import { CriuTsError } from '../errors.js';
import { VERSION } from '../version.js';
// Each command's modules are loaded when it runs: start-up is part of a restore's downtime.

const USAGE = `Usage:
  criu-ts check [--extra] [--experimental] [--all] [--feature NAME] [--json] [-v]
  criu-ts dump -t PID -D DIR [-R|--leave-running] [-s|--leave-stopped] [-o LOG] [-v[N]]
  criu-ts restore -D DIR [-d|--restore-detached] [--pidfile F] [-o LOG] [-v[N]]
  criu-ts swrk FD
  criu-ts service [--address PATH] [--pidfile FILE]
  criu-ts --version

Commands:
  check          check that the kernel supports what checkpoint/restore needs
  dump           checkpoint the process tree rooted at PID into DIR
  restore        bring back the process tree checkpointed in DIR
  swrk           serve CRIU's RPC protocol on the socket FD (the client's end of a socketpair)
  service        serve CRIU's RPC protocol on a Unix socket (./criu_service.socket by default)
`;

async function check(args: string[]): Promise<number> {
  const { runCheck } = await import('./check.js');
  const { values } = parseArgs({
    args,
    options: {
      all: { type: 'boolean', default: false },
      extra: { type: 'boolean', default: false },
      experimental: { type: 'boolean', default: false },
      feature: { type: 'string' },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', short: 'v', default: false },
    },
  });
  const result = runCheck({
    extra: values.extra || values.all,
    experimental: values.experimental || values.all,
    feature: values.feature,
    json: values.json,
    verbose: values.verbose,
  });
  for (const line of result.stderr) process.stderr.write(line + '\n');
  for (const line of result.stdout) process.stdout.write(line + '\n');
  return result.exitCode;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'check':
        return await check(rest);
      case 'dump':
        return await (await import('./dump.js')).dumpCommand(rest);
      case 'restore':
        return await (await import('./restore.js')).restoreCommand(rest);
      case 'swrk':
        return await (await import('../rpc/swrk.js')).swrkCommand(rest);
      case 'service':
        return await (await import('../rpc/service.js')).serviceCommand(rest);
      case '-V':
      case '--version':
        process.stdout.write(`Version: ${VERSION} (criu-ts)\n`);
        return 0;
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(`${USAGE}\nError: ${command === undefined ? 'a command is needed' : `unknown command '${command}'`}\n`);
        return 1;
    }
  } catch (err) {
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${USAGE}\nError: ${err.message}\n`);
      return 1;
    }
    if (err instanceof CriuTsError) {
      process.stderr.write(`Error (${command}): ${err.message} [${err.code}]\n`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
