/**
 * `crit-ts x DIR ps|fds|mems|rss`: the image-directory explorers of CRIU's crit, with the same
 * output. They read images without --pretty (plain numbers), as crit does.
 */
import { ImageDir } from '../images/image_dir.js';
import { imageToJson } from '../images/crit_json.js';
import type { JsonObject, JsonValue } from '../images/pyjson.js';
import { imageFileName } from '../images/image_files.js';

type Print = (line: string) => void;

/** Loads an image's entries as crit's non-pretty JSON objects. */
function entriesOf(dir: ImageDir, fileName: string): JsonObject[] {
  return imageToJson(dir.read(fileName)).entries as JsonObject[];
}

const num = (v: JsonValue | undefined): number => Number(v ?? 0);
const big = (v: JsonValue | undefined): bigint => BigInt((v as number | bigint | undefined) ?? 0);
const pad = (text: string, width: number, left = false) => (left ? text.padEnd(width) : text.padStart(width));

/** A task id from a pstree entry: `pid`, or the first of `ns_pid` in newer images. */
function taskId(entry: JsonObject, name: string): number {
  if (entry[name] !== undefined) return num(entry[name]);
  return num((entry[`ns_${name}`] as JsonValue[] | undefined)?.[0]);
}

export function explorePs(dir: ImageDir, print: Print): void {
  interface Node { pid: number; ppid: number; entry: JsonObject; comm: string; kids: Node[] }
  const nodes = new Map<number, Node>();
  for (const entry of entriesOf(dir, 'pstree.img')) {
    const pid = taskId(entry, 'pid');
    const core = entriesOf(dir, imageFileName('core', pid))[0]!;
    const comm = String((core['tc'] as JsonObject | undefined)?.['comm'] ?? '');
    nodes.set(pid, { pid, ppid: num(entry['ppid']), entry, comm, kids: [] });
  }
  let root: Node | undefined;
  for (const node of nodes.values()) {
    if (node.ppid === 0) root = node;
    else nodes.get(node.ppid)?.kids.push(node);
  }
  print(`${pad('PID', 7)}${pad('PGID', 7)}${pad('SID', 7)}   COMM`);
  const show = (node: Node, depth: number): void => {
    const ids = [node.pid, taskId(node.entry, 'pgid'), taskId(node.entry, 'sid')].map((v) => pad(String(v), 7)).join('');
    print(`${ids}   ${' '.repeat(4 * depth)}${node.comm}`);
    for (const kid of node.kids) show(kid, depth + 1);
  };
  if (root) show(root, 0);
}

/** Describes files the way crit's explorers do ("pipe[123]", "unix[1 (2) name]", a path). */
class FileNamer {
  #dir: ImageDir;
  #files: JsonObject[] | undefined;
  #images = new Map<string, JsonObject[]>();
  #cache = new Map<string, string>();

  constructor(dir: ImageDir) {
    this.#dir = dir;
  }

  #find(type: string, field: string, legacyImage: string, id: number): JsonObject | undefined {
    if (this.#files === undefined) {
      try {
        this.#files = entriesOf(this.#dir, 'files.img');
      } catch {
        this.#files = [];
      }
    }
    if (this.#files.length > 0) {
      const entry = this.#files.find((f) => num(f['id']) === id);
      if (entry) return entry[field] as JsonObject | undefined;
    }
    let legacy = this.#images.get(type);
    if (!legacy) {
      legacy = entriesOf(this.#dir, legacyImage);
      this.#images.set(type, legacy);
    }
    return legacy.find((f) => num(f['id']) === id);
  }

  describe(type: string, id: number): string {
    const key = `${type}/${id}`;
    let text = this.#cache.get(key);
    if (text === undefined) {
      text = this.#describe(type, id);
      this.#cache.set(key, text);
    }
    return text;
  }

  #describe(type: string, id: number): string {
    switch (type) {
      case 'REG': {
        const reg = this.#find(type, 'reg', 'reg-files.img', id);
        return reg?.['name'] ? String(reg['name']) : 'unknown path';
      }
      case 'PIPE': {
        const pipe = this.#find(type, 'pipe', 'pipes.img', id);
        return pipe ? `pipe[${num(pipe['pipe_id'])}]` : 'pipe[?]';
      }
      case 'UNIXSK': {
        const sk = this.#find(type, 'usk', 'unixsk.img', id);
        if (!sk) return 'unix[?]';
        const name = sk['name'] ? ` ${String(sk['name'])}` : '';
        return `unix[${num(sk['ino'])} (${num(sk['peer'])})${name}]`;
      }
      default:
        return `${type}.${id}`;
    }
  }
}

export function exploreFds(dir: ImageDir, print: Print): void {
  const namer = new FileNamer(dir);
  for (const entry of entriesOf(dir, 'pstree.img')) {
    const pid = taskId(entry, 'pid');
    const ids = entriesOf(dir, imageFileName('ids', pid))[0]!;
    print(String(pid));
    for (const fd of entriesOf(dir, imageFileName('fdinfo', num(ids['files_id'])))) {
      print(`\t${pad(String(num(fd['fd'])), 7)}: ${namer.describe(String(fd['type']), num(fd['id']))}`);
    }
    const fs = entriesOf(dir, imageFileName('fs', pid))[0]!;
    print(`\t${pad('cwd', 7)}: ${namer.describe('REG', num(fs['cwd_id']))}`);
    print(`\t${pad('root', 7)}: ${namer.describe('REG', num(fs['root_id']))}`);
  }
}

const VMA = {
  REGULAR: 1n << 0n, STACK: 1n << 1n, VSYSCALL: 1n << 2n, VDSO: 1n << 3n,
  FILE_PRIVATE: 1n << 6n, FILE_SHARED: 1n << 7n, ANON_SHARED: 1n << 8n, SYSVIPC: 1n << 10n, SOCKET: 1n << 11n,
};
const hex8 = (v: bigint) => v.toString(16).padStart(8, '0');

export function exploreMems(dir: ImageDir, print: Print): void {
  const namer = new FileNamer(dir);
  const shmIds = new Map<string, number>();
  const shmId = (id: bigint) => {
    let n = shmIds.get(id.toString());
    if (n === undefined) {
      n = shmIds.size + 1;
      shmIds.set(id.toString(), n);
    }
    return n.toString(16);
  };
  for (const entry of entriesOf(dir, 'pstree.img')) {
    const pid = taskId(entry, 'pid');
    const mm = entriesOf(dir, imageFileName('mm', pid))[0]!;
    print(String(pid));
    print(`\t${pad('exe', 36, true)}    ${namer.describe('REG', num(mm['exe_file_id']))}`);
    for (const vma of (mm['vmas'] as JsonObject[] | undefined) ?? []) {
      const status = big(vma['status']);
      let fn: string;
      if (status & VMA.SYSVIPC) fn = ` ips[${shmId(big(vma['shmid']))}]`;
      else if (status & VMA.ANON_SHARED) fn = ` shmem[${shmId(big(vma['shmid']))}]`;
      else if (status & VMA.SOCKET) fn = ` packet[${shmId(big(vma['shmid']))}]`;
      else if (status & (VMA.FILE_PRIVATE | VMA.FILE_SHARED)) {
        fn = ' ' + namer.describe('REG', num(vma['shmid']));
        if (big(vma['pgoff']) !== 0n) fn += ` + 0x${big(vma['pgoff']).toString(16)}`;
        if (status & VMA.FILE_SHARED) fn += ' (s)';
      } else if (status & VMA.STACK) fn = ' [stack]';
      else if (status & VMA.VSYSCALL) fn = ' [vsyscall]';
      else if (status & VMA.VDSO) fn = ' [vdso]';
      else if (big(vma['flags']) & 0x100n) fn = ' [stack?]';
      else fn = '';
      if (!(status & VMA.REGULAR)) fn += ' *';
      const prot = big(vma['prot']);
      const perms = (prot & 1n ? 'r' : '-') + (prot & 2n ? 'w' : '-') + (prot & 4n ? 'x' : '-');
      print(`\t${pad(`${hex8(big(vma['start']))}-${hex8(big(vma['end']))}`, 36, true)}${perms}${fn}`);
    }
  }
}

export function exploreRss(dir: ImageDir, print: Print): void {
  const namer = new FileNamer(dir);
  for (const entry of entriesOf(dir, 'pstree.img')) {
    const pid = taskId(entry, 'pid');
    const vmas = ((entriesOf(dir, imageFileName('mm', pid))[0]!['vmas'] as JsonObject[] | undefined) ?? []);
    const pagemap = entriesOf(dir, imageFileName('pagemap', pid)).slice(1);
    print(String(pid));
    let vmi = 0;
    let previous = -1;
    for (const pm of pagemap) {
      const vaddr = big(pm['vaddr']);
      const nrPages = big(pm['nr_pages'] ?? pm['compat_nr_pages']);
      const head = `\t${vaddr.toString(16)} / ${String(nrPages).padEnd(8)}`;
      // Python indexing: after the `vmi--` below, -1 means the last VMA (crit's own quirk).
      while (vmi < vmas.length && big(vmas.at(vmi)!['end']) <= vaddr) vmi++;
      const end = vaddr + (nrPages << 12n);
      let described = '';
      while (vmi < vmas.length && big(vmas.at(vmi)!['start']) < end) {
        const vma = vmas.at(vmi)!;
        if (vmi === previous) {
          described += ' ~';
        } else {
          const pages = (big(vma['end']) - big(vma['start'])) >> 12n;
          described += ` ${hex8(big(vma['start']))} / ${String(pages).padEnd(8)}`;
          if (big(vma['status']) & (VMA.FILE_PRIVATE | VMA.FILE_SHARED)) described += ' ' + namer.describe('REG', num(vma['shmid']));
          previous = vmi;
        }
        described += `\n\t${' '.repeat(23)}`;
        vmi++;
      }
      vmi--;
      print(`${head.padEnd(24)}${described}`);
    }
  }
}

export const EXPLORERS = { ps: explorePs, fds: exploreFds, mems: exploreMems, rss: exploreRss } as const;
