/**
 * Docker-style progress of pulls and pushes: one line per layer (`a3ed95caeb02: Downloading
 * [=====>      ]  1.2MB/3.4MB`), redrawn in place on a terminal; on anything else, one
 * plain line per status change, without the progress-bar updates (as Docker prints into a
 * pipe).
 *
 * @module
 */

/** Bytes done of a total. */
export interface ProgressDetail {
  current: number;
  total: number;
}

/** What pull and push report to. */
export interface Progress {
  /** Sets a layer's status (and bar). `id` is the short digest. */
  update(id: string, status: string, detail?: ProgressDetail): void;
  /** Prints a line that is not about one layer (`1: Pulling from team/app`). */
  message(text: string): void;
  /** Flushes pending redraws. */
  close(): void;
}

/**
 * First 12 hex digits of a digest: how Docker names layers in progress output.
 *
 * @example
 * ```ts
 * shortId("sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"); // "a3ed95caeb02"
 * ```
 */
export function shortId(digest: string): string {
  const colon = digest.indexOf(":");
  return digest.slice(colon + 1, colon + 13);
}

/** A progress sink that shows nothing (`-q`). */
export const silentProgress: Progress = { update() {}, message() {}, close() {} };

/**
 * A size in Docker's style: decimal units, four significant digits (`3.146MB`, `528kB`).
 *
 * @example
 * ```ts
 * humanSize(3_146_000); // "3.146MB"
 * ```
 */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/**
 * The bar Docker draws: 50 columns, `=` done, `>` the head, then the byte counts.
 *
 * @example
 * ```ts
 * progressBar({ current: 50, total: 100 }); // "[=========================>                         ]      50B/100B"
 * ```
 */
export function progressBar(d: ProgressDetail): string {
  const width = 50;
  const frac = d.total > 0 ? Math.min(1, d.current / d.total) : 0;
  const done = Math.floor(frac * width);
  const bar = done >= width
    ? "=".repeat(width - 1) + ">"
    : "=".repeat(done) + ">" + " ".repeat(width - done - 1);
  const counts = `${humanSize(d.current).padStart(8)}/${humanSize(d.total)}`;
  return `[${bar}] ${counts}`;
}

/** Statuses that come with a bar and are therefore not printed outside a terminal. */
const BAR_STATUSES = new Set(["Downloading", "Extracting", "Pushing"]);

/** Options of {@linkcode createProgress}. */
export interface ProgressOptions {
  /** Redraw in place (a terminal). Default: whether stdout is a terminal. */
  tty?: boolean;
  /** Where to write (default stdout). */
  write?: (text: string) => void;
  /** Minimum ms between redraws of one line's bar (default 100). */
  throttleMs?: number;
}

/**
 * A progress display on stdout.
 *
 * @example
 * ```ts
 * const p = createProgress();
 * p.update("a3ed95caeb02", "Downloading", { current: 1, total: 2 });
 * p.close();
 * ```
 */
export function createProgress(options: ProgressOptions = {}): Progress {
  const tty = options.tty ?? Deno.stdout.isTerminal();
  const enc = new TextEncoder();
  const write = options.write ?? ((t: string) => {
    const b = enc.encode(t);
    let off = 0;
    while (off < b.length) off += Deno.stdout.writeSync(b.subarray(off));
  });
  const throttle = options.throttleMs ?? 100;
  if (!tty) {
    const last = new Map<string, string>();
    return {
      update(id, status) {
        if (BAR_STATUSES.has(status) || last.get(id) === status) return;
        last.set(id, status);
        write(`${id}: ${status}\n`);
      },
      message(text) {
        write(text + "\n");
      },
      close() {},
    };
  }
  // Terminal: the layer lines stay at the bottom; the cursor sits below the last one.
  const order: string[] = [];
  const text = new Map<string, string>();
  const lastDraw = new Map<string, number>();
  const pending = new Set<string>();
  const render = (id: string) => {
    const idx = order.indexOf(id);
    const up = order.length - idx;
    write(`\x1b[${up}A\r\x1b[2K${text.get(id)}\r\x1b[${up}B`);
    lastDraw.set(id, Date.now());
    pending.delete(id);
  };
  return {
    update(id, status, detail) {
      const line = `${id}: ${status}${detail && BAR_STATUSES.has(status) ? " " + progressBar(detail) : ""}`;
      const before = text.get(id);
      text.set(id, line);
      if (before === undefined) {
        order.push(id);
        write(line + "\n");
        lastDraw.set(id, Date.now());
        return;
      }
      const statusChanged = !before.startsWith(`${id}: ${status}`) || !detail;
      if (statusChanged || Date.now() - (lastDraw.get(id) ?? 0) >= throttle) render(id);
      else pending.add(id);
    },
    message(t) {
      write(t + "\n");
      // Lines printed after the layer block push it up: start a new block.
      order.length = 0;
      text.clear();
      pending.clear();
    },
    close() {
      for (const id of [...pending]) render(id);
    },
  };
}
