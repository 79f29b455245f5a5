/**
 * The few error classes that callers across ctr catch by type. Everything else uses the
 * built-in `TypeError` / `RangeError` / `SyntaxError` for bad input.
 *
 * Messages are in sentence case, without a final period, with the value after a colon:
 * `Cannot mount overlay at "/var/lib/ctr/…": EPERM`.
 *
 * @module
 */

/**
 * Something named by the user (an image, a container, a blob) does not exist.
 *
 * @example
 * ```ts
 * throw new NotFoundError("No such image: busybox:latest");
 * ```
 */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

/**
 * The state of an object does not allow the operation (e.g. exec into a stopped container).
 *
 * @example
 * ```ts
 * throw new ConflictError('Container "web" is not running');
 * ```
 */
export class ConflictError extends Error {
  override name = "ConflictError";
}

/**
 * Bytes did not hash to the digest they were fetched or stored under.
 *
 * @example
 * ```ts
 * throw new DigestMismatchError("sha256:aa…", "sha256:bb…");
 * ```
 */
export class DigestMismatchError extends Error {
  override name = "DigestMismatchError";
  /** The digest the content was expected to have. */
  readonly expected: string;
  /** The digest the content really has. */
  readonly actual: string;
  constructor(expected: string, actual: string, what = "content") {
    super(`Digest mismatch for ${what}: expected ${expected}, got ${actual}`);
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A command line was wrong: unknown flag, missing argument, bad value. The CLI prints the
 * message with a hint to `--help` and exits 125, as Docker does.
 *
 * @example
 * ```ts
 * throw new UsageError("unknown flag: --frobnicate", "run");
 * ```
 */
export class UsageError extends Error {
  override name = "UsageError";
  /** The command whose `--help` the user should read. */
  readonly command: string;
  constructor(message: string, command = "") {
    super(message);
    this.command = command;
  }
}

/**
 * Ends the CLI with a specific exit code and an optional message (e.g. 126/127 for a
 * container command that is not executable / not found, or a container's own exit code).
 *
 * @example
 * ```ts
 * throw new ExitCodeError(127, 'exec: "nope": executable file not found in $PATH');
 * ```
 */
export class ExitCodeError extends Error {
  override name = "ExitCodeError";
  /** The process exit code to use. */
  readonly code: number;
  /** `cause` is the failure this exit stands for (`ctr -D` prints its stack). */
  constructor(code: number, message = "", options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
