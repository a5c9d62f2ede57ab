/**
 * `criu-ts service [--address PATH] [--pidfile FILE]`: CRIU's RPC daemon. It listens on a
 * SOCK_SEQPACKET Unix socket (./criu_service.socket by default, as CRIU's) and serves each
 * connection in a `criu-ts swrk` child of its own, like CRIU forks one per client: the child
 * reads the client's fds through /proc/<client>/fd/N (SO_PEERCRED of the accepted socket), and a
 * tree it restores outlives it. SIGINT or SIGTERM stop the daemon and remove the socket.
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CriuTsError } from '../errors.js';
import { accept, AF, bind, close, isSysError, listen, SOCK, socket } from '../sys/index.js';

export const DEFAULT_ADDRESS = 'criu_service.socket';

const POLL_MS = 20;

export async function serviceCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      address: { type: 'string' },
      pidfile: { type: 'string' },
    },
    allowNegative: false,
  });
  const address = resolve(values.address ?? DEFAULT_ADDRESS);
  const script = process.argv[1];
  if (script === undefined) throw new CriuTsError('SERVICE_FAILED', 'cannot tell which script runs criu-ts');
  rmSync(address, { force: true });
  const listener = socket(AF.UNIX, SOCK.SEQPACKET | SOCK.NONBLOCK | SOCK.CLOEXEC);
  try {
    bind(listener, { family: 'unix', path: address });
    listen(listener);
  } catch (err) {
    close(listener);
    throw new CriuTsError('SERVICE_FAILED', `cannot listen on ${address}: ${(err as Error).message}`, { cause: err });
  }
  if (values.pidfile !== undefined) writeFileSync(values.pidfile, `${process.pid}\n`);

  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, onSignal);
  try {
    while (!stop) {
      let conn: number;
      try {
        conn = accept(listener, { flags: 0 });
      } catch (err) {
        if (isSysError(err, 'EAGAIN') || isSysError(err, 'ECONNABORTED')) {
          await new Promise((r) => setTimeout(r, POLL_MS));
          continue;
        }
        throw err;
      }
      // The connection becomes fd 3 of a swrk child; the child's stdout goes nowhere.
      try {
        const child = spawn(process.execPath, [...process.execArgv, script, 'swrk', '3'], { stdio: ['ignore', 'ignore', 'inherit', conn] });
        child.on('error', () => {});
      } finally {
        close(conn);
      }
    }
  } finally {
    for (const s of signals) process.off(s, onSignal);
    close(listener);
    rmSync(address, { force: true });
  }
  return 0;
}
