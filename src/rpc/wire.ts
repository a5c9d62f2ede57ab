/**
 * The RPC transport: one `criu_req` or `criu_resp` per SOCK_SEQPACKET packet, with no length
 * prefix, encoded with our generated schema (src/images/proto/rpc.proto).
 */
import { CriuTsError } from '../errors.js';
import { SCHEMA } from '../images/generated/schema.js';
import type { CriuReq, CriuResp } from '../images/generated/types.js';
import { decodeMessage, encodeMessage, type PbMessage } from '../images/wire.js';
import { MSG, recvmsg, sendmsg } from '../sys/index.js';

/** Larger than any request a client sends (CRIU itself reads at most a few KiB). */
const MAX_PACKET = 1 << 20;

/** A request; fields our rpc.proto does not know (a newer client's) are skipped, as CRIU's protobuf-c does. */
export function decodeRequest(bytes: Uint8Array): CriuReq {
  return decodeMessage(SCHEMA, 'criu_req', bytes, 0, bytes.length, { unknownFields: 'skip' }) as unknown as CriuReq;
}

export function encodeResponse(resp: CriuResp): Uint8Array {
  return encodeMessage(SCHEMA, 'criu_resp', resp as unknown as PbMessage);
}

/** The next packet on `fd` (blocking), or null once the client has closed its end. */
export function recvPacket(fd: number): Uint8Array | null {
  const buf = Buffer.alloc(MAX_PACKET);
  const got = recvmsg(fd, buf);
  if (got.bytes === 0) return null;
  if ((got.flags & MSG.TRUNC) !== 0) throw new CriuTsError('RPC_BAD_REQUEST', `a request of more than ${MAX_PACKET} bytes`);
  return buf.subarray(0, got.bytes);
}

export function sendPacket(fd: number, bytes: Uint8Array): void {
  sendmsg(fd, { data: bytes }, { flags: MSG.NOSIGNAL });
}
