/** Probes of the calls that create, name and reach into tasks. */
import { existsSync, readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { close, clone3, getpid, isSysError, memfdCreate, pidfdGetfd, pidfdOpen, syscall } from '../../src/sys/index.js';
import { missing, supported, type FeatureProbe } from '../probe.js';
import { guarded, reason } from './ptrace.js';

export const PROCESS_PROBES: FeatureProbe[] = [
  {
    name: 'clone3_set_tid',
    category: 'required',
    description: 'clone3() with set_tid, to give restored tasks their original PIDs',
    probe: guarded(() => {
      // Asking for a PID that is taken (our own) fails with EEXIST before any task is made,
      // and only on a kernel that understands set_tid; an older one rejects the arguments.
      try {
        clone3({ setTid: [getpid()], exitSignal: 0 }, { what: 'probe clone3 set_tid' });
      } catch (err) {
        if (isSysError(err) && err.code === 'EEXIST') return supported();
        return missing(reason(err));
      }
      return missing('clone3 with a PID in use did not fail');
    }),
  },
  {
    name: 'pidfd_getfd',
    category: 'required',
    description: "pidfd_open() + pidfd_getfd(), to take a copy of another task's file descriptor",
    probe: guarded(() => {
      const pidfd = pidfdOpen(getpid(), { what: 'probe pidfd_open' });
      try {
        close(pidfdGetfd(pidfd, 0, { what: 'probe pidfd_getfd' }));
        return supported();
      } finally {
        close(pidfd);
      }
    }),
  },
  {
    name: 'kcmp',
    category: 'required',
    description: 'kcmp(), to tell which tasks share files, fs and memory',
    probe: guarded(() => {
      const pid = getpid();
      const KCMP_FILE = 0;
      const same = syscall('kcmp', pid, pid, KCMP_FILE, 0, 0);
      return same === 0n ? supported() : missing(`kcmp of fd 0 with itself returned ${same}`);
    }),
  },
  {
    name: 'map_files',
    category: 'required',
    description: '/proc/PID/map_files, to open the file behind a mapping even when it is deleted',
    probe: guarded(() => {
      const entries = readdirSync('/proc/self/map_files');
      if (entries.length === 0) return missing('/proc/self/map_files is empty');
      readlinkSync(`/proc/self/map_files/${entries[0]}`);
      return supported();
    }),
  },
  {
    name: 'memfd',
    category: 'required',
    description: 'memfd_create(), for the memory shared with the parasite and memfd files',
    probe: guarded(() => {
      close(memfdCreate('criu-ts-probe', { what: 'probe memfd_create' }));
      return supported();
    }),
  },
  {
    name: 'timens',
    category: 'extra',
    description: 'time namespaces, to restore CLOCK_MONOTONIC/BOOTTIME offsets',
    probe: guarded(() => {
      if (!existsSync('/proc/self/ns/time')) return missing('no /proc/self/ns/time');
      const offsets = readFileSync('/proc/self/timens_offsets', 'utf8');
      return /monotonic/.test(offsets) ? supported() : missing('no monotonic offset in /proc/self/timens_offsets');
    }),
  },
];
