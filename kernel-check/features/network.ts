/** Probes of what checkpointing network connections needs. */
import { spawnSync } from 'node:child_process';
import { AF, IPPROTO, SOCK, SOL, TCP, close, setsockopt, socket } from '../../src/sys/index.js';
import { missing, supported, type FeatureProbe } from '../probe.js';
import { guarded } from './ptrace.js';

export const NETWORK_PROBES: FeatureProbe[] = [
  {
    name: 'tcp_repair',
    category: 'required',
    description: 'TCP_REPAIR, to save and rebuild established connections',
    probe: guarded(() => {
      const fd = socket(AF.INET, SOCK.STREAM, { protocol: IPPROTO.TCP, what: 'probe TCP repair' });
      try {
        setsockopt(fd, { level: SOL.TCP, name: TCP.REPAIR, value: 1 }, { what: 'turn TCP repair on' });
        setsockopt(fd, { level: SOL.TCP, name: TCP.REPAIR, value: 0 }, { what: 'turn TCP repair off' });
        return supported();
      } finally {
        close(fd);
      }
    }),
  },
  {
    name: 'network_lock_nftables',
    category: 'extra',
    description: 'nftables (the nft tool and the kernel), for the network lock around a TCP dump',
    probe: guarded(() => {
      // Build a table with a drop rule like the lock's, in a network namespace of its own so
      // that nothing on the host changes.
      const script = [
        'nft add table inet criu_ts_probe',
        'nft add chain inet criu_ts_probe input "{ type filter hook input priority 0; }"',
        'nft add rule inet criu_ts_probe input ip saddr 127.0.0.1 tcp dport 1 drop',
      ].join(' && ');
      const res = spawnSync('unshare', ['--net', 'sh', '-c', script], { encoding: 'utf8', timeout: 10_000 });
      if (res.error) return missing(`cannot run unshare/nft: ${res.error.message}`);
      if (res.status !== 0) return missing(`nft failed: ${res.stderr.trim() || `exit ${res.status}`}`);
      const version = spawnSync('nft', ['--version'], { encoding: 'utf8' }).stdout.trim();
      return supported(version);
    }),
  },
];
