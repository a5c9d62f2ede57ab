/** Sockets (`socket:[N]`): not dumped yet. */
import { unsupportedKind } from './kind.js';

export const SOCKET_KINDS = [
  unsupportedKind('UNIXSK', (link) => link.startsWith('socket:['), (link) => `socket ${link} (sockets are not dumped yet)`),
];
