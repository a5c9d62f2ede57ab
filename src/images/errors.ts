import { CriuTsError } from '../errors.js';

/** The stable codes of image errors: tests and callers match on these. */
export type ImageErrorCode =
  | 'IMG_BAD_MAGIC' // the file does not start with a magic we know
  | 'IMG_UNKNOWN_KIND' // a magic, name or kind criu-ts cannot handle
  | 'IMG_TRUNCATED' // the file ends inside a size header, a payload or its extra data
  | 'IMG_BAD_PAYLOAD' // a payload that does not parse as its message
  | 'IMG_UNKNOWN_FIELD' // a payload with a field our schema does not know
  | 'IMG_TRAILING_BYTES' // bytes after what the image kind allows
  | 'IMG_WRONG_ARCH' // a core image of another architecture
  | 'IMG_BAD_JSON' // JSON that does not describe an image
  | 'IMG_MISSING' // an image the caller needs is not in the directory
  | 'IMG_DIR'; // the images directory itself is unusable

/** Where in which file an image error was found. */
export interface ImageErrorContext {
  /** The image file (or a description of the input, e.g. "stdin"). */
  file: string;
  /** Byte offset in the file, when the error is tied to a place in it. */
  offset?: number;
}

/** An error reading or writing a CRIU image; the message names the file and the offset. */
export class ImageError extends CriuTsError {
  readonly file: string;
  readonly offset: number | undefined;

  constructor(code: ImageErrorCode, context: ImageErrorContext, what: string, options?: { cause?: unknown }) {
    const where = context.offset === undefined ? context.file : `${context.file} at offset ${context.offset}`;
    super(code, `${where}: ${what}`, options);
    this.file = context.file;
    this.offset = context.offset;
  }
}
