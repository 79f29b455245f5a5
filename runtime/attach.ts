/**
 * Fan-out of a process's output to attached clients (run, attach, start -a, exec), and their
 * input back. A client that cannot keep up is dropped once it owes more than
 * {@linkcode MAX_PENDING} bytes, so one stuck terminal never stalls the container or its log.
 *
 * @module
 */
import { encodeFrame, Frame, writeAll } from "./protocol.ts";

/** Bytes a client may owe before it is dropped. */
export const MAX_PENDING = 8 * 1024 * 1024;

/**
 * One attached connection.
 *
 * @example
 * ```ts
 * const client = new AttachClient(conn, { stdout: true, stderr: true });
 * client.send(Frame.STDOUT, bytes);
 * ```
 */
export class AttachClient {
  readonly conn: Deno.Conn;
  readonly stdout: boolean;
  readonly stderr: boolean;
  #pending = 0;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  /** Resolves when the client is gone (closed by us or by the peer). */
  readonly gone: Promise<void>;
  #resolveGone!: () => void;

  constructor(conn: Deno.Conn, streams: { stdout: boolean; stderr: boolean }) {
    this.conn = conn;
    this.stdout = streams.stdout;
    this.stderr = streams.stderr;
    this.gone = new Promise((r) => this.#resolveGone = r);
  }

  /** Whether the client has been closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Queues a frame. */
  send(type: number, payload: Uint8Array | object = new Uint8Array()): void {
    if (this.#closed) return;
    if (type === Frame.STDOUT && !this.stdout) return;
    if (type === Frame.STDERR && !this.stderr) return;
    const frame = encodeFrame(type, payload);
    this.#pending += frame.length;
    if (this.#pending > MAX_PENDING) {
      this.close();
      return;
    }
    this.#chain = this.#chain.then(async () => {
      if (this.#closed) return;
      try {
        await writeAll(this.conn, frame);
      } catch {
        this.close();
      }
      this.#pending -= frame.length;
    });
  }

  /** Resolves when everything queued has been written. */
  drained(): Promise<void> {
    return this.#chain;
  }

  /** Sends the last frame, waits for it to go out, and closes. */
  async finish(type: number, payload: object): Promise<void> {
    this.send(type, payload);
    await this.#chain;
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* closed */ }
    this.#resolveGone();
  }
}
