/**
 * A directory of CRIU images.
 *
 * Reading: `ImageDir.open(dir)` decodes images by file name and refuses a directory that has no
 * inventory (a dump that never finished).
 *
 * Writing: `ImageDirWriter.create(dir)` stages every file in a hidden directory inside `dir`
 * and `commit()` moves them into place with `inventory.img` last, so a dump in progress, or one
 * that failed, is never mistaken for a finished one; `abort()` removes what was staged.
 */
import {
  existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ImageError } from './errors.js';
import { decodeImage, encodeImage, type Image } from './framing.js';
import { imageFileKind, imageFileName, type ImageFileKey } from './image_files.js';

const INVENTORY = imageFileName('inventory');
const STAGING_PREFIX = '.criu-ts-staging-';

export class ImageDir {
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /** Opens a finished dump: the directory must exist and hold inventory.img. */
  static open(path: string, options: { requireInventory?: boolean } = {}): ImageDir {
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      throw new ImageError('IMG_DIR', { file: path }, `cannot open the images directory: ${(err as Error).message}`, { cause: err });
    }
    if (!isDir) throw new ImageError('IMG_DIR', { file: path }, 'not a directory');
    const dir = new ImageDir(path);
    if ((options.requireInventory ?? true) && !dir.has(INVENTORY)) {
      throw new ImageError('IMG_MISSING', { file: join(path, INVENTORY) }, 'no inventory: this is not a finished dump');
    }
    return dir;
  }

  has(fileName: string): boolean {
    return existsSync(join(this.path, fileName));
  }

  /** Decodes one image file by name (e.g. `core-42.img`). */
  read(fileName: string): Image {
    const file = join(this.path, fileName);
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'IMG_MISSING' : 'IMG_DIR';
      throw new ImageError(code, { file }, `cannot read: ${(err as Error).message}`, { cause: err });
    }
    return decodeImage(buf, { file });
  }

  /** Decodes an image by kind: `readKind('core', 42)`. */
  readKind(key: ImageFileKey, arg?: number | bigint | string): Image {
    return this.read(imageFileName(key, arg));
  }

  /** Like readKind, but undefined when the file does not exist (optional images). */
  readOptional(key: ImageFileKey, arg?: number | bigint | string): Image | undefined {
    const name = imageFileName(key, arg);
    return this.has(name) ? this.read(name) : undefined;
  }

  /** The image files in the directory, with the kind each file name says it is. */
  list(): Array<{ fileName: string; key: ImageFileKey | undefined }> {
    return readdirSync(this.path)
      .filter((name) => !name.startsWith(STAGING_PREFIX))
      .sort()
      .map((fileName) => ({ fileName, key: imageFileKind(fileName)?.key }));
  }
}

export class ImageDirWriter {
  readonly path: string;
  readonly stagingPath: string;
  #files = new Set<string>();
  #done = false;

  private constructor(path: string, stagingPath: string) {
    this.path = path;
    this.stagingPath = stagingPath;
  }

  /** Creates `path` if needed and a staging directory inside it. */
  static create(path: string): ImageDirWriter {
    try {
      mkdirSync(path, { recursive: true });
      const staging = mkdtempSync(join(path, STAGING_PREFIX));
      return new ImageDirWriter(path, staging);
    } catch (err) {
      throw new ImageError('IMG_DIR', { file: path }, `cannot prepare the images directory: ${(err as Error).message}`, { cause: err });
    }
  }

  #claim(fileName: string): string {
    if (this.#done) throw new Error(`images directory ${this.path} is already committed or aborted`);
    if (fileName.includes('/')) throw new Error(`image file name '${fileName}' must not contain '/'`);
    this.#files.add(fileName);
    return join(this.stagingPath, fileName);
  }

  /** Encodes and stages one image. */
  write(fileName: string, image: Image): void {
    const file = this.#claim(fileName);
    writeFileSync(file, encodeImage(image, { file: join(this.path, fileName) }));
  }

  /** Stages `writeKind('core', 42, image)` as core-42.img. */
  writeKind(key: ImageFileKey, arg: number | bigint | string | undefined, image: Image): void {
    this.write(imageFileName(key, arg), image);
  }

  /** Opens a staged raw file (pages) for writing and returns its fd; the caller closes it. */
  openRaw(fileName: string): number {
    return openSync(this.#claim(fileName), 'w', 0o600);
  }

  /** The staged path of a file, for writers that need a path (e.g. splice targets). */
  stagedPath(fileName: string): string {
    return this.#claim(fileName);
  }

  /**
   * Moves every staged file into the directory, inventory last: until the inventory lands the
   * directory does not read as a finished dump. (Like CRIU, files are not fsync'ed: this guards
   * against a dump that fails or is killed, not against losing power.)
   */
  commit(): void {
    if (this.#done) throw new Error(`images directory ${this.path} is already committed or aborted`);
    if (!this.#files.has(INVENTORY)) throw new Error('a dump cannot be committed without its inventory');
    rmSync(join(this.path, INVENTORY), { force: true });
    const names = [...this.#files].filter((n) => n !== INVENTORY);
    for (const name of names) renameSync(join(this.stagingPath, name), join(this.path, name));
    renameSync(join(this.stagingPath, INVENTORY), join(this.path, INVENTORY));
    rmSync(this.stagingPath, { recursive: true, force: true });
    this.#done = true;
  }

  /** Drops everything staged; the directory is left as it was before the dump. */
  abort(): void {
    if (this.#done) return;
    this.#done = true;
    rmSync(this.stagingPath, { recursive: true, force: true });
  }
}

/** Removes staging directories left by a dump that was killed before it could clean up. */
export function removeStaleStaging(path: string): string[] {
  if (!existsSync(path)) return [];
  const stale = readdirSync(path).filter((n) => n.startsWith(STAGING_PREFIX));
  for (const name of stale) rmSync(join(path, name), { recursive: true, force: true });
  return stale;
}
