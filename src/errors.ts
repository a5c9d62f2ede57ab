/**
 * The base of every error criu-ts throws on purpose.
 *
 * Like Node's own errors, `code` is stable and is what callers and tests match on; the message
 * is for people and may change. Subclasses add the context that names what failed (the task,
 * the file, the offset).
 */
export class CriuTsError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
