/**
 * Registry errors: every error code of the OCI Distribution Spec (v1.1, "Error Codes"), the
 * ONE table that maps each code to its HTTP status, and the exception type that request
 * handling throws. The HTTP layer turns a {@linkcode RegistryError} into the spec's JSON body:
 *
 * ```json
 * {"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":{…}}]}
 * ```
 *
 * @module
 */

/** The error codes of the spec, each with the HTTP status ctr answers with by default. */
export const ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
} as const;

/** One error code of the spec. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** The spec's one-line description of each code, used when a handler gives no message. */
export const ERROR_MESSAGE: Record<ErrorCode, string> = {
  BLOB_UNKNOWN: "blob unknown to registry",
  BLOB_UPLOAD_INVALID: "blob upload invalid",
  BLOB_UPLOAD_UNKNOWN: "blob upload unknown to registry",
  DIGEST_INVALID: "provided digest did not match uploaded content",
  MANIFEST_BLOB_UNKNOWN: "manifest references a manifest or blob unknown to registry",
  MANIFEST_INVALID: "manifest invalid",
  MANIFEST_UNKNOWN: "manifest unknown to registry",
  NAME_INVALID: "invalid repository name",
  NAME_UNKNOWN: "repository name not known to registry",
  SIZE_INVALID: "provided length did not match content length",
  UNAUTHORIZED: "authentication required",
  DENIED: "requested access to the resource is denied",
  UNSUPPORTED: "the operation is unsupported",
  TOOMANYREQUESTS: "too many requests",
};

/** Options of {@linkcode RegistryError}. */
export interface RegistryErrorOptions {
  /** Overrides the code's default status (e.g. 416 for an out-of-order chunk, 413 for size). */
  status?: number;
  /** Unstructured JSON the client may use (spec: `detail`). */
  detail?: unknown;
  /** Extra response headers (e.g. `Range` and `Location` on a 416). */
  headers?: Record<string, string>;
}

/**
 * An error the registry reports to the client with a spec error code.
 *
 * @example
 * ```ts
 * throw new RegistryError("BLOB_UNKNOWN", `Blob not found: ${digest}`, { detail: { digest } });
 * ```
 */
export class RegistryError extends Error {
  override name = "RegistryError";
  /** The spec error code. */
  readonly code: ErrorCode;
  /** The HTTP status of the response. */
  readonly status: number;
  /** The `detail` member of the error body. */
  readonly detail: unknown;
  /** Extra response headers. */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string = ERROR_MESSAGE[code], options: RegistryErrorOptions = {}) {
    super(message);
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** The JSON body the spec prescribes. */
  toJSON(): { errors: { code: ErrorCode; message: string; detail?: unknown }[] } {
    const e: { code: ErrorCode; message: string; detail?: unknown } = {
      code: this.code,
      message: this.message,
    };
    if (this.detail !== undefined) e.detail = this.detail;
    return { errors: [e] };
  }
}
