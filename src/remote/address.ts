/**
 * A remote address: an address in another process's memory, as a branded bigint so that it is
 * never mixed up with one of ours or with a length.
 */

declare const remoteBrand: unique symbol;

/** An address in a tracee's address space. */
export type RemoteAddress = bigint & { readonly [remoteBrand]: true };

/** Marks `addr` as an address of a tracee (taken modulo 2^64). */
export function remoteAddress(addr: bigint | number): RemoteAddress {
  return BigInt.asUintN(64, BigInt(addr)) as RemoteAddress;
}
