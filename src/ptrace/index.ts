/**
 * `ptrace`: one traced thread ({@link Tracee}) and a frozen process tree ({@link freezeTree}).
 * Everything here is synchronous on the main thread; errors are {@link PtraceError}s with stable
 * codes, or `SysError`s for failures they do not explain.
 */

export { isPtraceError, PtraceError, taskName, type PtraceErrorCode, type PtraceErrorInit } from './errors.js';
export { freezeTree, type FreezeOptions } from './freeze.js';
export { FrozenTree, type FreezeStats, type FrozenProcess, type FrozenThread, type FrozenThreadState } from './frozen_tree.js';
export { readTaskStatus, type TaskStatus } from './procfs.js';
export { ptraceStats, resetPtraceStats, waitForTid, type PtraceStats } from './stops.js';
export { Tracee, type SeizeOptions, type TraceeState, type WaitStopOptions } from './tracee.js';
export { TraceeMemory } from './tracee_memory.js';
