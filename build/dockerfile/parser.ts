/**
 * Dockerfile text → syntax tree with line numbers, following the behaviour of BuildKit's
 * Dockerfile frontend:
 *
 * - parser directives (`# syntax=`, `# escape=`, `# check=`) are recognised only in the
 *   comment block at the very top; the first other line (blank, comment or instruction)
 *   ends them, and each may appear once;
 * - `#` starts a comment only as the first non-blank character of a line; comment lines
 *   inside a line continuation are dropped, and so are blank lines (with a warning);
 * - the escape token (`\` or a backtick) at the end of a line continues the instruction;
 *   continuation lines are glued on without adding a space;
 * - leading `--flag` words are split off as flags; the rest is parsed per instruction
 *   (JSON array, whitespace-separated list, key=value pairs, a single string, a sub-command);
 *   a malformed JSON array falls back to the shell form, a JSON array holding non-strings
 *   is an error;
 * - heredocs (`<<EOF`, `<<-EOF`, quoted delimiters, several per line) are read for RUN,
 *   COPY and ADD (and those as ONBUILD triggers) when not in JSON form.
 *
 * Pure: no I/O. Errors are {@linkcode DockerfileParseError}s naming file and line.
 *
 * @module
 */
import { ShellLexer } from "./shell_lexer.ts";

/** A heredoc attached to an instruction. */
export interface Heredoc {
  /** The delimiter word with quotes removed (also the file name for COPY). */
  name: string;
  /** File descriptor written before `<<` (`3<<EOF`), 0 when absent. */
  fd: number;
  /** False when (part of) the delimiter was quoted: the body is then taken literally. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from the body lines and the terminator. */
  chomp: boolean;
  /** The body, each line with its line ending, without the terminator line. */
  content: string;
}

/** One instruction as parsed, before its arguments are interpreted. */
export interface DockerfileNode {
  /** The keyword in lower case (`run`, `copy`, or whatever unknown word was written). */
  keyword: string;
  /** The keyword exactly as written (for messages). */
  written: string;
  /** The whole logical line after joining continuations, without heredoc bodies. */
  original: string;
  /** Leading `--name[=value]` words, quotes removed. */
  flags: string[];
  /** The arguments as this instruction's line parser split them (see module doc). */
  args: string[];
  /** Whether the arguments were a JSON array. */
  json: boolean;
  heredocs: Heredoc[];
  /** For ONBUILD: the trigger instruction. */
  sub?: DockerfileNode;
  /** 1-based line where the instruction starts. */
  startLine: number;
  /** 1-based last line (including continuation and heredoc lines). */
  endLine: number;
  /** Comment lines right above the instruction (text after `#`, trimmed). */
  comments: string[];
}

/** A non-fatal problem the parser noticed. */
export interface ParseWarning {
  line: number;
  message: string;
}

/** The parsed Dockerfile. */
export interface ParsedDockerfile {
  nodes: DockerfileNode[];
  /** The escape token in force (`\` or a backtick). */
  escapeToken: string;
  /** Parser directives found at the top (lower-case names). */
  directives: Record<string, string>;
  warnings: ParseWarning[];
}

/**
 * A Dockerfile could not be parsed or interpreted. The message reads
 * `FILE:LINE: PROBLEM`, e.g. `Dockerfile:7: unknown instruction: FORM`.
 *
 * @example
 * ```ts
 * try { parseDockerfile("FORM x\n"); } catch (e) { (e as DockerfileParseError).line; } // 1
 * ```
 */
export class DockerfileParseError extends SyntaxError {
  override name = "DockerfileParseError";
  /** The Dockerfile's name as shown to the user. */
  readonly file: string;
  /** 1-based line (0 when the problem concerns the whole file). */
  readonly line: number;
  /** The problem without the location. */
  readonly problem: string;
  constructor(file: string, line: number, problem: string) {
    super(line > 0 ? `${file}:${line}: ${problem}` : `${file}: ${problem}`);
    this.file = file;
    this.line = line;
    this.problem = problem;
  }
}

/** Options for {@linkcode parseDockerfile}. */
export interface ParseOptions {
  /** Name used in error messages; default `Dockerfile`. */
  file?: string;
}

const VALID_DIRECTIVES = new Set(["syntax", "escape", "check"]);
const DIRECTIVE_RE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const HEREDOC_RE = /^(\d*)<<(-?)([^<]*)$/;
const WHITESPACE_SPLIT = /[\t\v\f\r ]+/;

/** Instructions whose arguments may name heredocs. */
const HEREDOC_INSTRUCTIONS = new Set(["run", "copy", "add"]);

class Directives {
  escapeToken = "\\";
  continuation = Directives.#continuationRegex("\\");
  done = false;
  seen = new Map<string, string>();

  static #continuationRegex(token: string): RegExp {
    const t = token === "\\" ? "\\\\" : token;
    // The token at the end of a line continues it unless the token itself is escaped
    // (`foo \\` does not continue), or the token stands alone on the line.
    return new RegExp(`([^${t}])${t}[ \\t]*$|^${t}[ \\t]*$`);
  }

  setEscapeToken(s: string): void {
    if (s !== "`" && s !== "\\") throw new Error(`invalid escape token '${s}' does not match \` or \\`);
    this.escapeToken = s;
    this.continuation = Directives.#continuationRegex(s);
  }

  /** Looks at one more line while the directive block at the top is still open. */
  possibleDirective(line: string): void {
    if (this.done) return;
    const m = DIRECTIVE_RE.exec(line);
    if (!m) {
      this.done = true;
      return;
    }
    const key = m[1].toLowerCase();
    if (!VALID_DIRECTIVES.has(key)) {
      // An unknown directive is an ordinary comment, and ends the directive block.
      this.done = true;
      return;
    }
    if (this.seen.has(key)) throw new Error(`only one ${key} parser directive can be used`);
    this.seen.set(key, m[2]);
    if (key === "escape") this.setEscapeToken(m[2]);
  }

  /** Removes a trailing continuation token; returns the line and whether it ended. */
  trimContinuation(line: string): [string, boolean] {
    if (this.continuation.test(line)) return [line.replace(this.continuation, "$1"), false];
    return [line, true];
  }
}

function trimNewline(s: string): string {
  return s.replace(/[\r\n]+$/, "");
}

function trimLeadingWhitespace(s: string): string {
  return s.replace(/^\s+/u, "");
}

function isComment(rawLine: string): boolean {
  return trimLeadingWhitespace(trimNewline(rawLine)).startsWith("#");
}

/** Splits text into lines keeping each line's ending. */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const i = text.indexOf("\n", start);
    if (i < 0) {
      if (start < text.length) lines.push(text.slice(start));
      return lines;
    }
    lines.push(text.slice(start, i + 1));
    start = i + 1;
  }
}

/**
 * Parses Dockerfile text into nodes with line numbers. Unknown instruction keywords are
 * kept (as BuildKit's parser does); {@linkcode parseInstructions} rejects them.
 *
 * @example
 * ```ts
 * const { nodes } = parseDockerfile("FROM busybox\nRUN echo a \\\n  b\n");
 * nodes[1].args; // ["echo a   b"]
 * nodes[1].endLine; // 3
 * ```
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): ParsedDockerfile {
  const file = options.file ?? "Dockerfile";
  const d = new Directives();
  const lines = splitLines(text.startsWith("\uFEFF") ? text.slice(1) : text);
  const nodes: DockerfileNode[] = [];
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];
  let i = 0; // index of the next physical line to read
  const fail = (line: number, e: unknown): never => {
    throw new DockerfileParseError(file, line, e instanceof Error ? e.message : String(e));
  };

  const processLine = (raw: string, stripLeft: boolean, lineNo: number): string => {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeadingWhitespace(token);
    try {
      d.possibleDirective(token);
    } catch (e) {
      fail(lineNo, e);
    }
    return token.startsWith("#") ? "" : token;
  };

  while (i < lines.length) {
    const raw = lines[i];
    const startLine = i + 1;
    if (isComment(raw)) comments.push(trimLeadingWhitespace(trimNewline(raw)).slice(1).trim());
    const first = processLine(raw, true, startLine);
    i++;
    let [line, ended] = d.trimContinuation(first);
    if (ended && line === "") continue;
    let emptyContinuation = false;
    while (!ended && i < lines.length) {
      const next = lines[i];
      const processed = processLine(next, false, i + 1);
      i++;
      if (isComment(next)) continue; // comment lines vanish from a continuation
      if (trimLeadingWhitespace(processed) === "") {
        emptyContinuation = true;
        continue;
      }
      let part: string;
      [part, ended] = d.trimContinuation(processed);
      line += part;
    }
    if (emptyContinuation) {
      warnings.push({ line: startLine, message: `Empty continuation line found in: ${line}` });
    }
    let node: DockerfileNode;
    try {
      node = nodeFromLine(line, d, comments);
    } catch (e) {
      return fail(startLine, e);
    }
    node.startLine = startLine;
    if (canContainHeredoc(node)) {
      let docs: Heredoc[];
      try {
        docs = heredocsFromLine(line);
      } catch (e) {
        return fail(startLine, e);
      }
      for (const doc of docs) {
        let terminated = false;
        while (i < lines.length) {
          const bodyLine = lines[i++];
          let candidate = trimNewline(bodyLine);
          if (doc.chomp) candidate = candidate.replace(/^\t+/, "");
          if (candidate === doc.name) {
            terminated = true;
            break;
          }
          doc.content += bodyLine;
        }
        if (!terminated) fail(startLine, new Error(`unterminated heredoc ${doc.name}`));
        node.heredocs.push(doc);
      }
      if (node.sub) node.sub.heredocs = node.heredocs;
    }
    node.endLine = i;
    if (node.sub) {
      node.sub.startLine = node.startLine;
      node.sub.endLine = node.endLine;
    }
    nodes.push(node);
    comments = [];
  }
  if (nodes.length === 0) throw new DockerfileParseError(file, 0, "file with no instructions");
  return { nodes, escapeToken: d.escapeToken, directives: Object.fromEntries(d.seen), warnings };
}

function canContainHeredoc(node: DockerfileNode): boolean {
  const n = node.keyword === "onbuild" && node.sub ? node.sub : node;
  return HEREDOC_INSTRUCTIONS.has(n.keyword) && !n.json;
}

function nodeFromLine(line: string, d: Directives, comments: string[]): DockerfileNode {
  const trimmed = line.trim();
  const split = trimmed.split(WHITESPACE_SPLIT);
  const written = split[0];
  const restText = trimmed.slice(written.length);
  let flags: string[] = [];
  let rest = "";
  if (restText.length > 0) [rest, flags] = extractBuilderFlags(restText.replace(/^[\t\v\f\r ]+/, ""));
  rest = rest.trim();
  const keyword = written.toLowerCase();
  const node: DockerfileNode = {
    keyword,
    written,
    original: line,
    flags,
    args: [],
    json: false,
    heredocs: [],
    startLine: 0,
    endLine: 0,
    comments,
  };
  switch (keyword) {
    case "add":
    case "copy":
    case "volume":
      parseMaybeJsonToList(node, rest);
      break;
    case "run":
    case "cmd":
    case "entrypoint":
    case "shell":
      parseMaybeJson(node, rest);
      break;
    case "arg":
      node.args = parseWords(rest, d.escapeToken);
      break;
    case "env":
    case "label":
      node.args = parseNameVal(rest, keyword.toUpperCase(), d.escapeToken);
      break;
    case "expose":
    case "from":
      node.args = rest === "" ? [] : rest.split(WHITESPACE_SPLIT);
      break;
    case "healthcheck":
      parseHealthConfig(node, rest);
      break;
    case "maintainer":
    case "stopsignal":
    case "user":
    case "workdir":
      node.args = rest === "" ? [] : [rest];
      break;
    case "onbuild":
      if (rest !== "") {
        node.sub = nodeFromLine(rest, d, []);
        node.args = [node.sub.keyword, ...node.sub.args];
      }
      break;
    default:
      // Unknown instructions are reported when the nodes are interpreted.
      break;
  }
  return node;
}

/**
 * Splits leading `--flag[=value]` words off an instruction's arguments. Quotes and
 * backslashes inside flag words are processed; `--` alone ends the flags.
 */
export function extractBuilderFlags(line: string): [string, string[]] {
  const words: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let word = "";
  let quote = "";
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const atEnd = pos === line.length;
    let ch = atEnd ? "" : line[pos];
    if (phase === "spaces") {
      if (atEnd) break;
      if (/\s/.test(ch)) continue;
      // Keep going only while the next word starts with `--`.
      if (ch !== "-" || pos + 1 === line.length || line[pos + 1] !== "-") return [line.slice(pos), words];
      phase = "word";
    }
    if (atEnd) {
      if (word !== "--" && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === "word") {
      if (/\s/.test(ch)) {
        phase = "spaces";
        if (word === "--") return [line.slice(pos), words];
        if (blankOK || word.length > 0) words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = "quote";
        continue;
      }
      if (ch === "\\") {
        if (pos + 1 === line.length) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    // inside quotes
    if (ch === quote) {
      phase = "word";
      continue;
    }
    if (ch === "\\") {
      if (pos + 1 === line.length) {
        phase = "word";
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  return ["", words];
}

/**
 * Splits into words at unquoted whitespace, keeping quotes and escapes in the words (they
 * are processed later, when the words are expanded).
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let word = "";
  let quote = "";
  let blankOK = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    const atEnd = pos === chars.length;
    let ch = atEnd ? "" : chars[pos];
    if (phase === "spaces") {
      if (atEnd) break;
      if (/\s/u.test(ch)) continue;
      phase = "word";
    }
    if (atEnd) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === "word") {
      if (/\s/u.test(ch)) {
        phase = "spaces";
        if (blankOK || word.length > 0) words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = "quote";
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue; // a lone escape at the end is dropped
        // Outside quotes the escape and the escaped character (even a quote) both stay.
        word += ch;
        ch = chars[++pos];
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = "word";
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = "word";
        continue;
      }
      word += ch;
      ch = chars[++pos];
    }
    word += ch;
  }
  return words;
}

/** ENV/LABEL: `KEY value…` (legacy, one pair) or `K=V K2=V2 …`. Returns alternating key/value. */
function parseNameVal(rest: string, instruction: string, escapeToken: string): string[] {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return [];
  if (!words[0].includes("=")) {
    const m = /^(\S+)[\t\v\f\r ]+([\s\S]*)$/.exec(rest);
    if (!m) throw new Error(`${instruction} must have two arguments`);
    return [m[1], m[2]];
  }
  const out: string[] = [];
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq < 0) {
      throw new Error(`Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`);
    }
    out.push(w.slice(0, eq), w.slice(eq + 1));
  }
  return out;
}

const NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only";

/** Parses a JSON array of strings; undefined when the text is not a JSON array at all. */
function parseJsonArray(rest: string): string[] | undefined {
  const text = rest.replace(/^\s+/u, "");
  if (!text.startsWith("[")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (value.some((v) => typeof v !== "string")) throw new Error(NOT_STRING_ARRAY);
  return value as string[];
}

function parseMaybeJson(node: DockerfileNode, rest: string): void {
  if (rest === "") return;
  const arr = parseJsonArray(rest);
  if (arr) {
    node.args = arr;
    node.json = true;
  } else {
    node.args = [rest];
  }
}

function parseMaybeJsonToList(node: DockerfileNode, rest: string): void {
  const arr = parseJsonArray(rest);
  if (arr) {
    node.args = arr;
    node.json = true;
  } else {
    node.args = rest === "" ? [] : rest.split(WHITESPACE_SPLIT);
  }
}

function parseHealthConfig(node: DockerfileNode, rest: string): void {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(rest);
  if (!m) return;
  const sub: DockerfileNode = { ...node, args: [] };
  parseMaybeJson(sub, m[2]);
  node.args = [m[1], ...sub.args];
  node.json = sub.json;
}

/**
 * Recognises one heredoc word (`<<EOF`, `<<-"EOF"`, `3<<EOF`); undefined if `word` is not one.
 *
 * @example
 * ```ts
 * parseHeredoc("<<-'EOT'"); // { name: "EOT", chomp: true, expand: false, fd: 0, content: "" }
 * ```
 */
export function parseHeredoc(word: string): Heredoc | undefined {
  const m = HEREDOC_RE.exec(word);
  if (!m || m[3].length === 0) return undefined;
  const rest = m[3];
  const plain = new ShellLexer({ skipUnsetEnv: true });
  const words = plain.processWords(rest, new Map());
  if (words.length !== 1) return undefined;
  const raw = new ShellLexer({ skipUnsetEnv: true, rawQuotes: true }).processWords(rest, new Map());
  if (raw.length !== 1) throw new Error(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
  // Any quoting in the delimiter (the raw form has more quote characters) disables expansion.
  return {
    name: words[0],
    fd: m[1] === "" ? 0 : Number(m[1]),
    chomp: m[2] === "-",
    expand: quotes(words[0]) === quotes(raw[0]),
    content: "",
  };
}

function heredocsFromLine(line: string): Heredoc[] {
  const lex = new ShellLexer({ rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  let words: string[];
  try {
    words = lex.processWords(line, new Map());
  } catch {
    return [];
  }
  const docs: Heredoc[] = [];
  for (const w of words) {
    const doc = parseHeredoc(w);
    if (doc) docs.push(doc);
  }
  return docs;
}

/**
 * Removes leading tabs from every line of a `<<-` heredoc body.
 *
 * @example
 * ```ts
 * chompHeredocContent("\t\ta\n\tb\n"); // "a\nb\n"
 * ```
 */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, "");
}
