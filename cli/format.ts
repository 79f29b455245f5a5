/**
 * Output formatting shared by the CLI commands, matching Docker's CLI:
 *
 * - {@linkcode humanSize}: go-units `HumanSizeWithPrecision` (decimal units: `4.26MB`);
 * - {@linkcode humanDuration}: go-units `HumanDuration` (`2 weeks`, `About an hour`);
 * - {@linkcode renderTable}: `text/tabwriter` with Docker's settings (min width 10, padding 3);
 * - {@linkcode formatTemplate}: the subset of Go's `text/template` people use with
 *   `--format`: `{{.A.B}}`, `{{json .X}}`, `{{index .M "k"}}`, `{{join .L ", "}}`,
 *   `{{upper .S}}`, `{{lower .S}}`, `{{len .L}}`, `{{println .X}}`, pipelines `{{.X | json}}`,
 *   and a leading `table` that prints a header row.
 *
 * @module
 */

const UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/** Go's `%.Ng` for the numbers sizes produce (no exponent below 1e21). */
function goG(value: number, precision: number): string {
  if (value === 0) return "0";
  const s = value.toPrecision(precision);
  if (s.includes("e")) {
    // Go prints exponents with at least two digits: 1e+03.
    const [m, e] = s.split("e");
    const mant = m.includes(".") ? m.replace(/0+$/, "").replace(/\.$/, "") : m;
    const sign = e[0];
    const digits = e.slice(1).padStart(2, "0");
    return `${mant}e${sign}${digits}`;
  }
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

/**
 * Bytes as Docker shows them: 3 significant digits, decimal units.
 *
 * @example
 * ```ts
 * humanSize(4261550); // "4.26MB"
 * humanSize(124000000); // "124MB"
 * ```
 */
export function humanSize(bytes: number, precision = 3): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return `${goG(size, precision)}${UNITS[i]}`;
}

/**
 * A duration as Docker shows it (`docker images` CREATED, `docker ps` STATUS).
 *
 * @example
 * ```ts
 * humanDuration(90 * 60_000); // "2 hours"
 * humanDuration(3 * 86_400_000); // "3 days"
 * ```
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/**
 * "N units ago" from an RFC 3339 time, or "N/A" when there is none.
 *
 * @example
 * ```ts
 * timeAgo("2024-01-01T00:00:00Z"); // "… months ago"
 * ```
 */
export function timeAgo(iso: string | undefined, now = Date.now()): string {
  const t = iso ? Date.parse(iso) : NaN;
  if (!Number.isFinite(t) || t <= 0) return "N/A";
  return `${humanDuration(Math.max(0, now - t))} ago`;
}

/**
 * Go's `time.Time.String()` in UTC: `2023-07-18 23:19:33 +0000 UTC`.
 *
 * @example
 * ```ts
 * goTimeString("2023-07-18T23:19:33.655Z"); // "2023-07-18 23:19:33 +0000 UTC"
 * ```
 */
export function goTimeString(iso: string | undefined): string {
  const t = iso ? Date.parse(iso) : NaN;
  if (!Number.isFinite(t)) return "0001-01-01 00:00:00 +0000 UTC";
  return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, " +0000 UTC");
}

/**
 * Aligns rows as Docker's tabwriter does: every column but the last padded to its widest
 * cell plus 3, at least 10.
 *
 * @example
 * ```ts
 * renderTable([["REPOSITORY", "TAG"], ["busybox", "latest"]]);
 * ```
 */
export function renderTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      if (i === row.length - 1) return;
      widths[i] = Math.max(widths[i] ?? 0, Math.max(10, [...cell].length + 3));
    });
  }
  return rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat(widths[i] - [...cell].length)))
      .join("")
      .trimEnd()
  ).join("\n");
}

// ---------------------------------------------------------------- templates

type Value = unknown;

interface Token {
  kind: "text" | "action";
  text: string;
}

function tokenize(tpl: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < tpl.length) {
    const open = tpl.indexOf("{{", i);
    if (open === -1) {
      out.push({ kind: "text", text: tpl.slice(i) });
      break;
    }
    if (open > i) out.push({ kind: "text", text: tpl.slice(i, open) });
    const close = tpl.indexOf("}}", open + 2);
    if (close === -1) throw new SyntaxError(`template: unclosed action in ${JSON.stringify(tpl)}`);
    let inner = tpl.slice(open + 2, close);
    // {{- and -}} trim surrounding whitespace.
    if (inner.startsWith("-")) {
      inner = inner.slice(1);
      const last = out[out.length - 1];
      if (last?.kind === "text") last.text = last.text.trimEnd();
    }
    let trimNext = false;
    if (inner.endsWith("-")) {
      inner = inner.slice(0, -1);
      trimNext = true;
    }
    out.push({ kind: "action", text: inner.trim() });
    i = close + 2;
    if (trimNext) { while (i < tpl.length && /\s/.test(tpl[i])) i++; }
  }
  return out;
}

function splitArgs(expr: string): string[] {
  const args: string[] = [];
  const re = /"(?:[^"\\]|\\.)*"|`[^`]*`|[^\s]+/g;
  for (const m of expr.matchAll(re)) args.push(m[0]);
  return args;
}

function lookup(value: Value, path: string): Value {
  let v = value;
  for (const key of path.split(".").filter(Boolean)) {
    if (v === null || v === undefined) return undefined;
    if (typeof v !== "object") {
      throw new TypeError(`template: can't evaluate field ${key} in type ${typeof v}`);
    }
    v = (v as Record<string, Value>)[key];
  }
  return v;
}

/** Template variables in scope: `$` (the value the template was given) and `$name`s of range. */
type Vars = Map<string, Value>;

function literal(arg: string, dot: Value, vars: Vars): Value {
  if (arg.startsWith('"')) return JSON.parse(arg);
  if (arg.startsWith("`")) return arg.slice(1, -1);
  if (arg === ".") return dot;
  if (arg.startsWith(".")) return lookup(dot, arg);
  if (arg.startsWith("$")) {
    const m = /^(\$\w*)(.*)$/.exec(arg)!;
    if (!vars.has(m[1])) throw new SyntaxError(`template: undefined variable "${m[1]}"`);
    return lookup(vars.get(m[1]), m[2]);
  }
  if (/^-?\d+(\.\d+)?$/.test(arg)) return Number(arg);
  if (arg === "true" || arg === "false") return arg === "true";
  if (arg === "nil") return null;
  throw new SyntaxError(`template: function "${arg}" not defined`);
}

/** Go's default printing of a value inside a template. */
function show(v: Value): string {
  if (v === undefined || v === null) return "<no value>";
  if (Array.isArray(v)) return `[${v.map(show).join(" ")}]`;
  if (typeof v === "object") {
    const entries = Object.entries(v as Record<string, Value>).sort((
      [a],
      [b],
    ) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([k, x]) => `${k}:${show(x)}`).join(" ")}]`;
  }
  return String(v);
}

const FUNCS: Record<string, (...args: Value[]) => Value> = {
  json: (v) => JSON.stringify(v ?? null),
  index: (v, ...keys) => {
    let x = v;
    for (const k of keys) {
      x = x === null || x === undefined ? undefined : (x as Record<string, Value>)[String(k)];
    }
    return x;
  },
  join: (list, sep) => (Array.isArray(list) ? list.map(String).join(String(sep)) : ""),
  upper: (s) => String(s ?? "").toUpperCase(),
  lower: (s) => String(s ?? "").toLowerCase(),
  title: (s) => String(s ?? "").replace(/\b\w/g, (c) => c.toUpperCase()),
  len: (
    v,
  ) => (Array.isArray(v) || typeof v === "string"
    ? v.length
    : v && typeof v === "object"
    ? Object.keys(v).length
    : 0),
  println: (...vs) => vs.map(show).join(" ") + "\n",
  print: (...vs) => vs.map(show).join(""),
  printf: (fmt, ...vs) => {
    let i = 0;
    return String(fmt).replace(
      /%[vsdq%]/g,
      (m) => (m === "%%" ? "%" : m === "%q" ? JSON.stringify(String(vs[i++])) : show(vs[i++])),
    );
  },
  truncate: (s, n) => String(s ?? "").slice(0, Number(n)),
  // Go's comparison and logic functions, for `if` (arguments are already evaluated).
  eq: (a, ...bs) => bs.some((b) => b === a),
  ne: (a, b) => a !== b,
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
  not: (v) => !truthy(v),
  and: (...vs) => vs.find((v) => !truthy(v)) ?? vs[vs.length - 1],
  or: (...vs) => vs.find((v) => truthy(v)) ?? vs[vs.length - 1],
};

function evalCommand(cmd: string, dot: Value, vars: Vars, piped: Value[] = []): Value {
  const args = splitArgs(cmd);
  if (!args.length) throw new SyntaxError("template: empty command");
  const [head, ...rest] = args;
  if (head in FUNCS) return FUNCS[head](...rest.map((a) => literal(a, dot, vars)), ...piped);
  if (!/^[.$]/.test(head) && !/^["`\d-]|^(true|false|nil)$/.test(head)) {
    throw new SyntaxError(`template: function "${head}" not defined`);
  }
  if (rest.length) throw new SyntaxError(`template: can't give argument to non-function ${head}`);
  return piped.length
    ? (() => {
      throw new SyntaxError(`template: can't pipe into non-function ${head}`);
    })()
    : literal(head, dot, vars);
}

function evalPipeline(expr: string, dot: Value, vars: Vars): Value {
  const parts = expr.split(/\|(?=(?:[^"]*"[^"]*")*[^"]*$)/).map((p) => p.trim());
  let v = evalCommand(parts[0], dot, vars);
  for (const p of parts.slice(1)) v = evalCommand(p, dot, vars, [v]);
  return v;
}

/** A parsed template: text, printed pipelines, and the control actions Docker users write. */
type Node =
  | { kind: "text"; text: string }
  | { kind: "print"; expr: string }
  | { kind: "if" | "with"; expr: string; body: Node[]; orElse: Node[] }
  | { kind: "range"; expr: string; keyVar?: string; valueVar?: string; body: Node[]; orElse: Node[] };

/**
 * Parses tokens into nodes up to an `else` or `end` (returned as `stop`), or to the end.
 * `{{else if X}}` / `{{else with X}}` become a nested node in the else branch.
 */
function parseNodes(tokens: Token[], pos: { i: number }): { nodes: Node[]; stop?: string } {
  const nodes: Node[] = [];
  while (pos.i < tokens.length) {
    const t = tokens[pos.i++];
    if (t.kind === "text") {
      nodes.push({ kind: "text", text: t.text });
      continue;
    }
    const word = t.text.split(/\s/)[0];
    if (word === "end" || word === "else") return { nodes, stop: t.text };
    if (/^(define|template|block|break|continue)$/.test(word)) {
      throw new SyntaxError(`template: "${word}" actions are not supported by ctr`);
    }
    if (word !== "if" && word !== "with" && word !== "range") {
      nodes.push({ kind: "print", expr: t.text });
      continue;
    }
    nodes.push(parseBlock(word, t.text.slice(word.length).trim(), tokens, pos));
  }
  return { nodes };
}

function parseBlock(word: "if" | "with" | "range", rest: string, tokens: Token[], pos: { i: number }): Node {
  if (!rest) throw new SyntaxError(`template: missing value for ${word}`);
  const body = parseNodes(tokens, pos);
  let orElse: Node[] = [];
  let stop = body.stop;
  if (stop !== undefined && stop !== "end") {
    const chained = stop.slice(4).trim(); // after "else"
    const chainWord = chained.split(/\s/)[0];
    if (chainWord === "if" || chainWord === "with") {
      // `else if` closes with the outer block's single `end`.
      orElse = [parseBlock(chainWord, chained.slice(chainWord.length).trim(), tokens, pos)];
      stop = "end";
    } else if (chained) {
      throw new SyntaxError(`template: unexpected "${chained}" after else`);
    } else {
      const e = parseNodes(tokens, pos);
      orElse = e.nodes;
      stop = e.stop;
    }
  }
  if (stop !== "end") throw new SyntaxError(`template: unexpected EOF: ${word} without end`);
  if (word !== "range") return { kind: word, expr: rest, body: body.nodes, orElse };
  const decl = /^(\$\w+)(?:\s*,\s*(\$\w+))?\s*:=\s*(.+)$/.exec(rest);
  if (!decl) return { kind: "range", expr: rest, body: body.nodes, orElse };
  return decl[2]
    ? { kind: "range", expr: decl[3], keyVar: decl[1], valueVar: decl[2], body: body.nodes, orElse }
    : { kind: "range", expr: decl[3], valueVar: decl[1], body: body.nodes, orElse };
}

/** Go's truth: false, 0, nil and empty strings, lists and maps are false. */
function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v as object).length > 0;
  return true;
}

function render(nodes: Node[], dot: Value, vars: Vars): string {
  let out = "";
  for (const n of nodes) {
    switch (n.kind) {
      case "text":
        out += n.text;
        break;
      case "print": {
        const v = evalPipeline(n.expr, dot, vars);
        out += typeof v === "string" ? v : show(v);
        break;
      }
      case "if":
      case "with": {
        const v = evalPipeline(n.expr, dot, vars);
        if (truthy(v)) out += render(n.body, n.kind === "with" ? v : dot, vars);
        else out += render(n.orElse, dot, vars);
        break;
      }
      case "range": {
        const v = evalPipeline(n.expr, dot, vars);
        // Maps in key order, as Go ranges over them.
        const items: [Value, Value][] = Array.isArray(v)
          ? v.map((x, i) => [i, x])
          : v && typeof v === "object"
          ? Object.keys(v).sort().map((k) => [k, (v as Record<string, Value>)[k]])
          : v === undefined || v === null
          ? []
          : (() => {
            throw new TypeError(`template: range can't iterate over ${show(v)}`);
          })();
        if (!items.length) {
          out += render(n.orElse, dot, vars);
          break;
        }
        for (const [k, x] of items) {
          const scope = new Map(vars);
          if (n.keyVar) scope.set(n.keyVar, k);
          if (n.valueVar) scope.set(n.valueVar, x);
          out += render(n.body, x, scope);
        }
        break;
      }
    }
  }
  return out;
}

/**
 * Renders a Go template subset against a value: fields, `$` and range variables, the
 * functions Docker adds (`json`, `join`, `index`, …), pipelines, and `if`/`else`/`with`/`range`
 * blocks. Unknown functions and unsupported actions throw `SyntaxError` with Go's wording.
 *
 * @example
 * ```ts
 * formatTemplate("{{.Repository}}:{{.Tag}}", { Repository: "busybox", Tag: "latest" }); // "busybox:latest"
 * formatTemplate("{{json .Config.Env}}", inspect);
 * ```
 */
export function formatTemplate(tpl: string, value: Value): string {
  const tokens = tokenize(tpl.replace(/\\t/g, "\t").replace(/\\n/g, "\n"));
  const parsed = parseNodes(tokens, { i: 0 });
  if (parsed.stop !== undefined) throw new SyntaxError(`template: unexpected {{${parsed.stop}}}`);
  return render(parsed.nodes, value, new Map([["$", value]]));
}

/**
 * Renders rows for a `--format` flag: `json` (one JSON object per line), `table …` (header
 * row from `headers`, aligned), or a plain template per row.
 *
 * @example
 * ```ts
 * formatRows("table {{.ID}}\t{{.Size}}", rows, { ID: "IMAGE ID", Size: "SIZE" });
 * ```
 */
export function formatRows(
  format: string,
  rows: Record<string, Value>[],
  headers: Record<string, string>,
): string[] {
  if (format === "json") return rows.map((r) => JSON.stringify(sortKeys(r)));
  if (format.startsWith("table")) {
    const tpl = format.slice(5).trim() || Object.keys(headers).map((k) => `{{.${k}}}`).join("\t");
    const headerRow = formatTemplate(
      tpl.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, k) => headers[k] ?? k.toUpperCase()),
      {},
    );
    const lines = [headerRow, ...rows.map((r) => formatTemplate(tpl, r))];
    return renderTable(lines.map((l) => l.split("\t"))).split("\n");
  }
  return rows.map((r) => formatTemplate(format, r));
}

function sortKeys(o: Record<string, Value>): Record<string, Value> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/**
 * Prints objects as `inspect` commands do: an indented JSON array by default, a one-line
 * JSON array for `--format json`, else the template once per object.
 *
 * @example
 * ```ts
 * printInspected([doc], flags.format as string | undefined);
 * ```
 */
export function printInspected(docs: unknown[], format: string | undefined): void {
  if (!format) console.log(JSON.stringify(docs, null, 4));
  else if (format === "json") console.log(JSON.stringify(docs));
  else for (const doc of docs) console.log(formatTemplate(format, doc));
}
