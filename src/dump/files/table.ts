/**
 * The files of a dump (files.img): every open file description, mapped file, cwd and root gets
 * an id; entries are kept in the order they were added, which is the order CRIU writes them
 * (mapped files of each task first, then its fds, then its cwd and root).
 */
import type { FileEntry } from '../../images/generated/types.js';
import { FdTypes } from '../../images/generated/types.js';

export type FileKind = keyof typeof FdTypes;

/** A file entry without its id (the table assigns it). */
export type FileBody = Omit<FileEntry, 'id' | 'type'>;

export class FileTable {
  #entries: FileEntry[] = [];
  #byKey = new Map<string, number>();

  /** The id of the file known by `key`, or undefined. */
  lookup(key: string): number | undefined {
    return this.#byKey.get(key);
  }

  /**
   * Adds a file and returns its id; with a `key` already known, returns the known id instead.
   * `build` receives the new id (kind-specific entries repeat it inside).
   */
  add(kind: FileKind, build: (id: number) => FileBody, key?: string): number {
    if (key !== undefined) {
      const known = this.#byKey.get(key);
      if (known !== undefined) return known;
    }
    const id = this.#entries.length + 1;
    this.#entries.push({ id, type: FdTypes[kind], ...build(id) });
    if (key !== undefined) this.#byKey.set(key, id);
    return id;
  }

  /** Records `key` as another name of the file `id` (e.g. another fd of the same description). */
  alias(key: string, id: number): void {
    this.#byKey.set(key, id);
  }

  get entries(): readonly FileEntry[] {
    return this.#entries;
  }

  get(id: number): FileEntry | undefined {
    return this.#entries[id - 1];
  }
}
