/**
 * The `SOL_SOCKET` options of a socket as CRIU records them (sk_opts_entry): buffer sizes and
 * timeouts always; priority, low-water mark and the boolean options always (`SO_PASSCRED` and
 * `SO_PASSSEC` only for Unix and netlink sockets: since Linux 6.16 other families refuse them);
 * the mark, linger time, bound device and socket filter only when set.
 */
import type { SkOptsEntry } from '../../images/generated/types.js';
import { AF, SO, SOL, getsockopt, getsockoptInt, isSysError, syscall } from '../../sys/index.js';
import { NET } from '../../net/constants.js';

/** `struct sock_filter` is 8 bytes; BPF_MAXINSNS is 4096. */
const FILTER_INSN = 8;
const FILTER_MAX = 4096;

/** The options of socket `fd` of family `family` (`AF.*`). */
export function dumpSocketOpts(fd: number, family: number): SkOptsEntry {
  const int = (name: number): number => getsockoptInt(fd, { level: SOL.SOCKET, name });
  const flag = (name: number): boolean => int(name) !== 0;
  const [sndSec, sndUsec] = timeval(fd, NET.SO_SNDTIMEO);
  const [rcvSec, rcvUsec] = timeval(fd, NET.SO_RCVTIMEO);
  const opts: SkOptsEntry = {
    so_sndbuf: int(SO.SNDBUF) >>> 0,
    so_rcvbuf: int(SO.RCVBUF) >>> 0,
    so_snd_tmo_sec: sndSec,
    so_snd_tmo_usec: sndUsec,
    so_rcv_tmo_sec: rcvSec,
    so_rcv_tmo_usec: rcvUsec,
    reuseaddr: flag(SO.REUSEADDR),
    so_priority: int(SO.PRIORITY) >>> 0,
    so_rcvlowat: int(SO.RCVLOWAT) >>> 0,
    so_dontroute: flag(SO.DONTROUTE),
    so_no_check: flag(SO.NO_CHECK),
    so_reuseport: flag(SO.REUSEPORT),
    so_broadcast: flag(SO.BROADCAST),
    so_keepalive: flag(SO.KEEPALIVE),
    so_oobinline: flag(SO.OOBINLINE) ? 1 : 0,
  };
  const mark = int(SO.MARK) >>> 0;
  if (mark !== 0) opts.so_mark = mark;
  if (family === AF.UNIX || family === AF.NETLINK) {
    opts.so_passcred = flag(SO.PASSCRED);
    opts.so_passsec = flag(NET.SO_PASSSEC);
  }
  const linger = getsockopt(fd, { level: SOL.SOCKET, name: SO.LINGER }, { size: 8 }); // struct linger { int l_onoff; int l_linger; }
  if (linger.readInt32LE(0) !== 0) opts.so_linger = linger.readInt32LE(4) >>> 0;
  const bufLock = soBufLock(fd);
  if (bufLock !== undefined) opts.so_buf_lock = bufLock;
  const dev = getsockopt(fd, { level: SOL.SOCKET, name: SO.BINDTODEVICE }, { size: 16 }); // IFNAMSIZ
  if (dev.length > 0) opts.so_bound_dev = dev.subarray(0, dev.indexOf(0) < 0 ? dev.length : dev.indexOf(0)).toString('utf8');
  const filter = socketFilter(fd);
  if (filter.length > 0) opts.so_filter = filter;
  return opts;
}

/** A `struct timeval` option (`SO_SNDTIMEO`, `SO_RCVTIMEO`) as [seconds, microseconds]. */
function timeval(fd: number, name: number): [bigint, bigint] {
  const tv = getsockopt(fd, { level: SOL.SOCKET, name }, { size: 16 });
  return [BigInt.asUintN(64, tv.readBigInt64LE(0)), BigInt.asUintN(64, tv.readBigInt64LE(8))];
}

/** `SO_BUF_LOCK` (Linux 5.14+): which buffer sizes were set by hand; undefined on older kernels. */
function soBufLock(fd: number): number | undefined {
  try {
    return getsockoptInt(fd, { level: SOL.SOCKET, name: NET.SO_BUF_LOCK }) >>> 0;
  } catch (err) {
    if (isSysError(err, 'ENOPROTOOPT')) return undefined;
    throw err;
  }
}

/**
 * The classic BPF filter attached to the socket (`SO_GET_FILTER`), one word per instruction as
 * CRIU packs it: code << 48 | jt << 40 | jf << 32 | k. The option's length counts instructions,
 * not bytes, hence the raw call.
 */
function socketFilter(fd: number): bigint[] {
  const buf = Buffer.alloc(FILTER_INSN * FILTER_MAX);
  const len = Uint32Array.of(FILTER_MAX);
  syscall('getsockopt', fd, SOL.SOCKET, NET.SO_GET_FILTER, buf, len);
  const out: bigint[] = [];
  for (let i = 0; i < len[0]!; i++) {
    const at = i * FILTER_INSN;
    const code = BigInt(buf.readUInt16LE(at));
    const jt = BigInt(buf.readUInt8(at + 2));
    const jf = BigInt(buf.readUInt8(at + 3));
    const k = BigInt(buf.readUInt32LE(at + 4));
    out.push((code << 48n) | (jt << 40n) | (jf << 32n) | k);
  }
  return out;
}
