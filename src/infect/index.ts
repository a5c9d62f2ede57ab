/**
 * `infect`: the driver side of the parasite (parasite/protocol.md) — {@link Parasite.infect} a
 * stopped task, run its commands (sigactions, misc, fds, memory; thread mode for other threads),
 * {@link Parasite.cure} it.
 */

export { parasiteArch } from './arch.js';
export { InfectError, isInfectError, type InfectErrorCode, type InfectErrorInit } from './errors.js';
export { areaLayout, type AreaLayout, type LayoutInput } from './layout.js';
export { type MemoryOptions, type MemoryRange, type MemoryResult } from './memory.js';
export { Parasite, type InfectOptions, type InfectStats } from './parasite.js';
