// Compares the packet_diag and netlink_diag layouts, the packet and netlink socket addresses and the
// SOL_PACKET / SOL_NETLINK constants (src/net/packet_diag.ts, src/net/netlink_diag.ts) with what
// the C headers say, through test/support/packet_netlink_probe.c compiled with gcc at test time.
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, it } from 'vitest';
import { NETLINK_DIAG_LAYOUTS, netlinkDiagConstantEntries } from '../../src/net/netlink_diag.js';
import { PACKET_LAYOUTS, packetConstantEntries } from '../../src/net/packet_diag.js';
import { expectConstantsMatch, expectLayoutsMatch, runLayoutProbe, type ProbeFacts } from '../support/layout_probe.js';

let facts: ProbeFacts;
beforeAll(() => {
  facts = runLayoutProbe(fileURLToPath(new URL('../support/packet_netlink_probe.c', import.meta.url)));
});

describe('packet and netlink socket tables match the C headers', () => {
  it('has the size, field offsets and field sizes of every struct, and every field the probe prints', () => {
    expectLayoutsMatch([...PACKET_LAYOUTS, ...NETLINK_DIAG_LAYOUTS], facts);
  });

  it('has the value of every constant, and every constant the probe prints', () => {
    expectConstantsMatch([...packetConstantEntries(), ...netlinkDiagConstantEntries()], facts);
  });
});
