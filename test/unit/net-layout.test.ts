// Compares the netlink and sock_diag struct layouts (src/sys/netlink.ts, src/net/sock_diag.ts) and
// the socket constants of src/net/ with what the C headers say, through
// test/support/net_layout_probe.c compiled with gcc at test time.
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, it } from 'vitest';
import { netConstantEntries } from '../../src/net/constants.js';
import { SOCK_DIAG_LAYOUTS, sockDiagConstantEntries } from '../../src/net/sock_diag.js';
import { NETLINK_LAYOUTS, netlinkConstantEntries } from '../../src/sys/netlink.js';
import { expectConstantsMatch, expectLayoutsMatch, runLayoutProbe, type ProbeFacts } from '../support/layout_probe.js';

let facts: ProbeFacts;
beforeAll(() => {
  facts = runLayoutProbe(fileURLToPath(new URL('../support/net_layout_probe.c', import.meta.url)));
});

describe('netlink and sock_diag tables match the C headers', () => {
  it('has the size, field offsets and field sizes of every struct, and every field the probe prints', () => {
    expectLayoutsMatch([...NETLINK_LAYOUTS, ...SOCK_DIAG_LAYOUTS], facts);
  });

  it('has the value of every constant, and every constant the probe prints', () => {
    expectConstantsMatch([...netlinkConstantEntries(), ...sockDiagConstantEntries(), ...netConstantEntries()], facts);
  });
});
