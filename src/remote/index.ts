/**
 * `remote`: system calls run inside a stopped tracee ({@link RemoteSyscalls}, {@link withRemote}),
 * restoring registers, code and signal mask on every path.
 */

export { remoteAddress, type RemoteAddress } from './address.js';
export { isRemoteSyscallError, RemoteError, RemoteSyscallError, type RemoteErrorCode } from './errors.js';
export { RemoteSyscalls, remoteSyscall, withRemote, type RemoteMmapOptions, type RemoteOptions, type RemoteResult, type RemoteStats } from './remote_syscalls.js';
export { findSyscallSite } from './site.js';
