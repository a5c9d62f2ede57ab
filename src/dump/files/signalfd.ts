/** signalfd (`anon_inode:[signalfd]`): its signal mask, from fdinfo. */
import { signalfdMask } from '../../proc/index.js';
import type { FdKindHandler } from './kind.js';

export const SIGNALFD_KIND: FdKindHandler = {
  kind: 'SIGNALFD',
  matches: (link) => link === 'anon_inode:[signalfd]',
  dump(f, ctx) {
    const sigmask = signalfdMask(f.info, f);
    return ctx.files.add('SIGNALFD', (id) => ({ sgfd: { id, flags: f.flags, fown: f.fown, sigmask } }));
  },
};
