/**
 * Sockets (`socket:[N]`), by family (`SO_DOMAIN` of the socket): Unix sockets (unix_sk.ts) and
 * IPv4/IPv6 ones (inet_sk.ts); any other family is refused. Only sockets of the dumper's network
 * namespace are dumped (sock_diag sees no other); their ns_id is that namespace's id.
 */
import { statSync } from 'node:fs';
import { AF, SO, SOL, close, fstat, getsockoptInt, syscall } from '../../sys/index.js';
import { NET } from '../../net/constants.js';
import { KobjIds } from '../ids.js';
import { dumpInetSocket } from './inet_sk.js';
import { FdDumpError, type FdFacts, type FdKindHandler } from './kind.js';
import { dumpUnixSocket } from './unix_sk.js';

const FAMILY_NAMES: Record<number, string> = { [AF.NETLINK]: 'netlink', [AF.PACKET]: 'packet' };

let dumperNetNs: { ino: bigint; id: number } | undefined;

/** The dumper's network namespace: its inode, and the id a dump gives it (CRIU's numbering). */
function dumperNamespace(): { ino: bigint; id: number } {
  dumperNetNs ??= { ino: statSync('/proc/self/ns/net', { bigint: true }).ino, id: new KobjIds().dumper.net_ns_id! };
  return dumperNetNs;
}

/** `ioctl(fd, SIOCGSKNS)`: the inode of the network namespace socket `fd` lives in. */
function socketNamespace(fd: number): bigint {
  const ns = Number(syscall('ioctl', fd, NET.SIOCGSKNS, 0));
  try {
    return fstat(ns).ino;
  } finally {
    close(ns);
  }
}

function dumpSocket(f: FdFacts, ctx: Parameters<FdKindHandler['dump']>[1]): number {
  const family = getsockoptInt(f.local, { level: SOL.SOCKET, name: SO.DOMAIN });
  if (family !== AF.UNIX && family !== AF.INET && family !== AF.INET6) {
    throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `socket ${f.link} (${FAMILY_NAMES[family] ?? `family ${family}`}) is not supported yet`);
  }
  const own = dumperNamespace();
  const ns = socketNamespace(f.local);
  if (ns !== own.ino) {
    throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `socket ${f.link} lives in network namespace net:[${ns}], not the dumper's net:[${own.ino}] (not supported yet)`);
  }
  const nsId = ctx.options.netNsId ?? own.id;
  return family === AF.UNIX ? dumpUnixSocket(f, ctx, nsId) : dumpInetSocket(f, ctx, { family, nsId });
}

/**
 * Every socket. The fdinfo type follows the entry written (UNIXSK or INETSK); `kind` names the
 * first.
 */
export const SOCKET_KIND: FdKindHandler = {
  kind: 'UNIXSK',
  matches: (link) => link.startsWith('socket:['),
  dump(f, ctx) {
    try {
      return dumpSocket(f, ctx);
    } catch (err) {
      if (err instanceof FdDumpError) throw err;
      throw new FdDumpError('FD_FAILED', f.pid, f.fd, `cannot dump socket ${f.link}: ${(err as Error).message}`);
    }
  },
};

export const SOCKET_KINDS = [SOCKET_KIND];
