/** `proc`: parsers of the /proc files dump reads for free (no ptrace, no parasite). */
export { ProcError, listProcDir, procPath, readProcBytes, readProcLink, readProcText, type ProcErrorCode } from './read.js';
export { parseMapsLine, readMaps, readSmaps, type MapsEntry, type SmapsEntry } from './maps.js';
export { readStat, readStatus, type ProcStat, type ProcStatus } from './status.js';
export { fdinfoFields, listFds, readFdInfo, readFdLink, type FdInfo } from './fdinfo.js';
export { epollTargets, inotifyWatches, signalfdMask, timerfdState, type EpollTarget, type FdinfoSource, type InotifyWatch, type TimerfdState } from './fdinfo_kinds.js';
export { readMountInfo, type MountInfo } from './mountinfo.js';
export { PAGEMAP, PagemapReader, pageRuns } from './pagemap.js';
export {
  RLIM_INFINITY, listChildren, listProcessChildren, listThreads, namespaceId, readAuxv, readLimits, readPosixTimers,
  readTaskLink, type PosixTimerInfo, type Rlimit,
} from './task.js';
