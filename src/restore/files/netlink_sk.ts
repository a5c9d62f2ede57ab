/**
 * Netlink sockets (files.img NETLINKSK), made again in the driver: `socket(AF_NETLINK, SOCK_RAW,
 * protocol)`, bound to the port id it had with its first 32 groups, the groups past the 32nd
 * joined with `NETLINK_ADD_MEMBERSHIP`, connected again to its peer port and group, then its file
 * flags and SOL_SOCKET options.
 *
 * A port id someone else holds now (EADDRINUSE) is given up for one the kernel picks, as CRIU
 * does: port ids are usually the kernel's choice (the task's pid, then negative numbers), and few
 * programs care which they get; the restore log says so. A socket that was never bound stays
 * unbound (the kernel binds it on first use).
 */
import { NETLINK_OPT, NETLINK_STATE, SOCKADDR_NL, netlinkAddress } from '../../net/netlink_diag.js';
import { AF, F, O, SOCK, SOL, bind, connect, fcntl, getsockname, isSysError, setsockopt, socket } from '../../sys/index.js';
import { RestoreError } from '../errors.js';
import { holder } from './file_holder.js';
import type { FileKindOpener, OpenContext } from './kind.js';
import { restoreSocketOpts } from './sk_opts.js';

/** The highest group a connect() can name (`nl_groups` is a 32-bit mask). */
const MAX_DST_GROUP = 32;

export const NETLINKSK_OPENER: FileKindOpener = {
  kind: 'NETLINKSK',
  open(entry, ctx) {
    const nl = entry.nlsk!;
    const name = `netlink socket (protocol ${nl.protocol}, file ${nl.id})`;
    const fd = socket(AF.NETLINK, SOCK.RAW | SOCK.CLOEXEC, { protocol: nl.protocol, what: `create ${name}` });
    ctx.opened.push(fd);
    const groups = nl.groups ?? [];
    let joinFrom = 0; // the first group word not set by bind()
    if (nl.portid !== 0) {
      bindPort(fd, { portid: nl.portid, groups: groups[0] ?? 0, name, ctx, id: nl.id });
      joinFrom = 1;
    }
    for (let w = joinFrom; w < groups.length; w++) {
      for (let bit = 0; bit < 32; bit++) {
        if (((groups[w]! >>> bit) & 1) === 0) continue;
        const group = w * 32 + bit + 1;
        setsockopt(fd, { level: SOL.NETLINK, name: NETLINK_OPT.ADD_MEMBERSHIP, value: group }, { what: `join group ${group} with ${name}` });
      }
    }
    if (nl.state === NETLINK_STATE.CONNECTED) {
      if (nl.dst_group > MAX_DST_GROUP) {
        const where = holder(ctx.plan, nl.id);
        throw new RestoreError('RESTORE_FAILED', `${where.text}: ${name} is connected to group ${nl.dst_group}, past the ${MAX_DST_GROUP} a connect() can name`, { pid: where.pid, image: 'files.img' });
      }
      const mask = nl.dst_group === 0 ? 0 : 2 ** (nl.dst_group - 1);
      connect(fd, netlinkAddress(nl.dst_portid, mask), { what: `connect ${name} to port ${nl.dst_portid}${nl.dst_group ? ` group ${nl.dst_group}` : ''}` });
    }
    fcntl(fd, F.SETFL, { arg: nl.flags & ~O.ACCMODE & ~O.CLOEXEC, what: `set the flags of ${name}` });
    restoreSocketOpts(fd, nl.opts, name);
    return fd;
  },
};

/**
 * `bind(fd, {portid, groups})`; when the port id is taken, `bind(fd, {0, groups})` and the port
 * the kernel gave is logged.
 */
function bindPort(fd: number, b: { portid: number; groups: number; name: string; ctx: OpenContext; id: number }): void {
  try {
    bind(fd, netlinkAddress(b.portid, b.groups), { what: `bind ${b.name} to port ${b.portid}` });
    return;
  } catch (err) {
    if (!isSysError(err, 'EADDRINUSE')) throw err;
  }
  bind(fd, netlinkAddress(0, b.groups), { what: `bind ${b.name} to a port of the kernel's choice` });
  const got = getsockname(fd);
  const port = got.family === 'raw' ? got.bytes.readUInt32LE(SOCKADDR_NL.fields.nl_pid.offset) : 0;
  b.ctx.options.log?.(`${holder(b.ctx.plan, b.id).text}: ${b.name}: port id ${b.portid} is taken, bound to port ${port} instead (as CRIU does)`);
}
