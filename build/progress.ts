/**
 * Build progress for people and logs, from the driver's {@linkcode BuildEvent}s, in the two
 * shapes of BuildKit's printer:
 *
 * - `plain` (logs, `--progress plain`, non-terminals): every vertex as numbered lines —
 *   `#3 [2/4] RUN make`, output lines as `#3 0.412 cc -o app …` (seconds since the step
 *   began), then `#3 CACHED`, `#3 DONE 1.2s` or `#3 ERROR: …`, and a blank line after each
 *   finished vertex. Parallel stages interleave, each line naming its vertex.
 * - `tty`: a live block redrawn in place — `[+] Building 3.1s (4/7)` and the running
 *   steps with the last lines of their output — above which finished steps are printed
 *   once, as ` => CACHED [2/4] COPY . .   0.0s`.
 *
 * The printer only formats; where the text goes is the caller's `write`.
 *
 * @module
 */
import type { BuildEvent } from "./builder.ts";

/** Options for {@linkcode BuildProgress}. */
export interface BuildProgressOptions {
  mode: "plain" | "tty";
  write: (text: string) => void;
  /** Terminal width for `tty` (default 80). */
  columns?: number;
  /** Output lines shown under a running step in `tty` mode (default 6). */
  tailLines?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

interface Vertex {
  id: number;
  label: string;
  started: number;
  cached: boolean;
  ended?: number;
  error?: string;
  /** Incomplete last output line. */
  partial: string;
  /** Last complete output lines (tty). */
  tail: string[];
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1) + "s";
}

/**
 * Formats build events.
 *
 * @example
 * ```ts
 * const p = new BuildProgress({ mode: "plain", write: (t) => Deno.stderr.writeSync(new TextEncoder().encode(t)) });
 * await buildImage({ ...request, onEvent: (e) => p.handle(e) });
 * p.close();
 * ```
 */
export class BuildProgress {
  readonly #opt: BuildProgressOptions;
  readonly #now: () => number;
  readonly #vertices = new Map<number, Vertex>();
  readonly #decoders = new Map<number, TextDecoder>();
  readonly #started: number;
  #drawnLines = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #finished = 0;

  constructor(options: BuildProgressOptions) {
    this.#opt = options;
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
  }

  /** Takes one event. */
  handle(e: BuildEvent): void {
    if (e.type === "warning") {
      this.#permanent(`WARNING: ${e.message}\n`);
      return;
    }
    if (e.type === "step") {
      this.#vertices.set(e.id, {
        id: e.id,
        label: e.label,
        started: this.#now(),
        cached: false,
        partial: "",
        tail: [],
      });
      if (this.#opt.mode === "plain") this.#opt.write(`#${e.id} ${e.label}\n`);
      else this.#schedule();
      return;
    }
    const v = this.#vertices.get(e.id);
    if (!v) return;
    switch (e.type) {
      case "output": {
        let dec = this.#decoders.get(e.id);
        if (!dec) this.#decoders.set(e.id, dec = new TextDecoder());
        const text = v.partial + dec.decode(e.chunk, { stream: true });
        const lines = text.split(/\r?\n|\r/);
        v.partial = lines.pop()!;
        this.#lines(v, lines);
        break;
      }
      case "status":
        this.#lines(v, [e.text], false);
        break;
      case "cached":
        v.cached = true;
        v.ended = this.#now();
        this.#finish(v);
        break;
      case "done":
        v.ended = v.started + e.ms;
        this.#flushPartial(v);
        this.#finish(v);
        break;
      case "error":
        v.error = e.message;
        v.ended = this.#now();
        this.#flushPartial(v);
        this.#finish(v);
        break;
    }
  }

  /** Ends the display (the final redraw in `tty` mode). */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#opt.mode === "tty") {
      this.#clear();
      this.#opt.write(`${this.#header(true)}\n`);
    }
  }

  #flushPartial(v: Vertex): void {
    if (v.partial !== "") {
      const p = v.partial;
      v.partial = "";
      this.#lines(v, [p]);
    }
    const rest = this.#decoders.get(v.id)?.decode() ?? "";
    if (rest) this.#lines(v, [rest]);
    this.#decoders.delete(v.id);
  }

  #lines(v: Vertex, lines: string[], timed = true): void {
    if (this.#opt.mode === "plain") {
      const t = ((this.#now() - v.started) / 1000).toFixed(3);
      let out = "";
      for (const l of lines) out += timed ? `#${v.id} ${t} ${l}\n` : `#${v.id} ${l}\n`;
      if (out) this.#opt.write(out);
      return;
    }
    v.tail.push(...lines);
    const keep = this.#opt.tailLines ?? 6;
    if (v.tail.length > keep) v.tail.splice(0, v.tail.length - keep);
    this.#schedule();
  }

  #finish(v: Vertex): void {
    this.#finished++;
    if (this.#opt.mode === "plain") {
      const end = v.error !== undefined
        ? `#${v.id} ERROR: ${v.error}\n`
        : v.cached
        ? `#${v.id} CACHED\n`
        : `#${v.id} DONE ${seconds(v.ended! - v.started)}\n`;
      this.#opt.write(end + "\n");
      this.#vertices.delete(v.id);
      return;
    }
    // tty: the finished step becomes a permanent line (with its last output on error).
    this.#vertices.delete(v.id);
    let text = this.#stepLine(v) + "\n";
    if (v.error !== undefined) {
      for (const l of v.tail) text += this.#fit(` => => # ${l}`) + "\n";
      text += this.#fit(` => ERROR: ${v.error}`) + "\n";
    }
    this.#permanent(text);
  }

  #stepLine(v: Vertex): string {
    const time = seconds((v.ended ?? this.#now()) - v.started);
    const name = `${v.error !== undefined ? "ERROR " : v.cached ? "CACHED " : ""}${v.label}`;
    const width = this.#opt.columns ?? 80;
    const left = this.#fit(` => ${name}`, width - time.length - 1);
    return left + " ".repeat(Math.max(1, width - left.length - time.length)) + time;
  }

  #fit(s: string, width = this.#opt.columns ?? 80): string {
    return s.length > width ? s.slice(0, Math.max(0, width - 3)) + "..." : s;
  }

  #header(final = false): string {
    const total = this.#finished + this.#vertices.size;
    const time = seconds(this.#now() - this.#started);
    return `[+] Building ${time} (${this.#finished}/${total})${final ? " FINISHED" : ""}`;
  }

  #permanent(text: string): void {
    if (this.#opt.mode === "plain") {
      this.#opt.write(text);
      return;
    }
    this.#clear();
    this.#opt.write(text);
    this.#draw();
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#clear();
      this.#draw();
    }, 80);
  }

  #clear(): void {
    if (this.#drawnLines > 0) this.#opt.write(`\x1b[${this.#drawnLines}A\x1b[J`);
    this.#drawnLines = 0;
  }

  #draw(): void {
    const lines = [this.#header()];
    for (const v of this.#vertices.values()) {
      lines.push(this.#stepLine(v));
      for (const l of v.tail) lines.push(this.#fit(` => => # ${l}`));
    }
    this.#opt.write(lines.join("\n") + "\n");
    this.#drawnLines = lines.length;
  }
}
