/**
 * Sockets (`socket:[N]`), by family (`SO_DOMAIN` of the socket): Unix sockets (unix_sk.ts),
 * IPv4/IPv6 ones (inet_sk.ts), packet sockets (packet_sk.ts) and netlink sockets (netlink_sk.ts);
 * any other family is refused. Only sockets of the dumper's network namespace are dumped
 * (sock_diag sees no other); their ns_id is that namespace's id.
 */
import { statSync } from 'node:fs';
import { AF, SO, SOL, close, fstat, getsockoptInt, syscall } from '../../sys/index.js';
import { NET } from '../../net/constants.js';
import { KobjIds } from '../ids.js';
import { dumpInetSocket } from './inet_sk.js';
import { FdDumpError, type FdFacts, type FdKindHandler } from './kind.js';
import { dumpNetlinkSocket } from './netlink_sk.js';
import { dumpPacketSocket } from './packet_sk.js';
import { dumpUnixSocket } from './unix_sk.js';

const FAMILIES = new Set<number>([AF.UNIX, AF.INET, AF.INET6, AF.PACKET, AF.NETLINK]);

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
  if (!FAMILIES.has(family)) {
    throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `socket ${f.link} (family ${family}) is not supported yet`);
  }
  const own = dumperNamespace();
  const ns = socketNamespace(f.local);
  if (ns !== own.ino) {
    throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `socket ${f.link} lives in network namespace net:[${ns}], not the dumper's net:[${own.ino}] (not supported yet)`);
  }
  const nsId = ctx.options.netNsId ?? own.id;
  if (family === AF.UNIX) return dumpUnixSocket(f, ctx, nsId);
  if (family === AF.PACKET) return dumpPacketSocket(f, ctx, nsId);
  if (family === AF.NETLINK) return dumpNetlinkSocket(f, ctx, nsId);
  return dumpInetSocket(f, ctx, { family, nsId });
}

/**
 * Every socket. The fdinfo type follows the entry written (UNIXSK, INETSK, PACKETSK or
 * NETLINKSK); `kind` names the first.
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
