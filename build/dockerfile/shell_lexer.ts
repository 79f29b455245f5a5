/**
 * Word processing and variable expansion for Dockerfile arguments, as BuildKit's frontend
 * does it (a small subset of POSIX shell): single and double quotes, the escape token
 * (`\` or a backtick, from `# escape=`), and the parameter expansions `$V`, `${V}`,
 * `${V:-w}`, `${V-w}`, `${V:+w}`, `${V+w}`, `${V:?w}`, `${V?w}`, `${V#p}`, `${V##p}`,
 * `${V%p}`, `${V%%p}`, `${V/p/r}` and `${V//p/r}`. No command substitution, no arithmetic.
 *
 * `processWord` keeps whitespace (ENV values, WORKDIR); `processWords` splits into words
 * after expansion (EXPOSE), where whitespace produced by a variable splits but quoted
 * whitespace does not. Pure: no I/O.
 *
 * @module
 */

/** Variables visible to an expansion. Names are case-sensitive (Linux). */
export type Env = ReadonlyMap<string, string>;

/** Options changing how a {@linkcode ShellLexer} treats quotes, escapes and unset names. */
export interface ShellLexerOptions {
  /** The escape token: `\` (default) or a backtick. */
  escapeToken?: string;
  /** Keep quote characters in the result (used to detect quoted heredoc delimiters). */
  rawQuotes?: boolean;
  /** Keep escape tokens in the result. */
  rawEscapes?: boolean;
  /** Leave `$NAME` of unset variables as written instead of expanding to "". */
  skipUnsetEnv?: boolean;
  /** Treat quotes as ordinary characters (heredoc bodies are expanded this way). */
  skipProcessQuotes?: boolean;
}

/** Result of processing a word: the joined result, the split words, and the names seen. */
export interface ProcessResult {
  word: string;
  words: string[];
  /** Variable names that were referenced and set. */
  matched: Set<string>;
  /** Variable names that were referenced but unset. */
  unmatched: Set<string>;
}

const EOF = "";

function isSpace(ch: string): boolean {
  return /^\s$/u.test(ch);
}

function isDigit(ch: string): boolean {
  return /^\p{Nd}$/u.test(ch);
}

function isLetter(ch: string): boolean {
  return /^\p{L}$/u.test(ch);
}

function isSpecialParam(ch: string): boolean {
  return "@*#?-$!0".includes(ch) && ch !== "";
}

/** Splits output into words the way the shell would after expansion. */
class WordCollector {
  words: string[] = [];
  #buf = "";
  #inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.#inWord && this.#buf.length > 0) {
        this.words.push(this.#buf);
        this.#buf = "";
        this.#inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: string): void {
    this.#buf += ch;
    this.#inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRawString(s: string): void {
    this.#buf += s;
    this.#inWord = true;
  }

  finish(): string[] {
    if (this.#buf.length > 0) {
      this.words.push(this.#buf);
      this.#buf = "";
      this.#inWord = false;
    }
    return this.words;
  }
}

class Scanner {
  readonly #chars: string[];
  #pos = 0;
  constructor(text: string) {
    this.#chars = Array.from(text);
  }
  peek(): string {
    return this.#chars[this.#pos] ?? EOF;
  }
  next(): string {
    return this.#chars[this.#pos++] ?? EOF;
  }
}

/**
 * Expands variables and processes quotes in Dockerfile words.
 *
 * @example
 * ```ts
 * const lex = new ShellLexer();
 * lex.processWord('"$A"-${B:-b}', new Map([["A", "x y"]])); // "x y-b"
 * lex.processWords("$PORTS 8080", new Map([["PORTS", "80 443"]])); // ["80", "443", "8080"]
 * ```
 */
export class ShellLexer {
  readonly escapeToken: string;
  readonly options: Readonly<ShellLexerOptions>;

  constructor(options: ShellLexerOptions = {}) {
    this.escapeToken = options.escapeToken ?? "\\";
    if (this.escapeToken !== "\\" && this.escapeToken !== "`") {
      throw new TypeError(`Invalid escape token: ${JSON.stringify(this.escapeToken)}`);
    }
    this.options = options;
  }

  /** Expands `word` keeping its whitespace. Throws `SyntaxError` on bad syntax. */
  processWord(word: string, env: Env): string {
    return this.process(word, env).word;
  }

  /** Expands `word` and splits it into shell words. */
  processWords(word: string, env: Env): string[] {
    return this.process(word, env).words;
  }

  /** Expands `word`, returning the result, the words and the variables used. */
  process(word: string, env: Env): ProcessResult {
    const run = new ShellWordRun(this, new Scanner(word), env);
    try {
      const [result, words] = run.processStopOn(EOF, this.options.rawEscapes ?? false);
      return { word: result, words, matched: run.matched, unmatched: run.unmatched };
    } catch (e) {
      if (e instanceof SyntaxError) {
        throw new SyntaxError(`failed to process ${JSON.stringify(word)}: ${e.message}`);
      }
      throw e;
    }
  }
}

class ShellWordRun {
  matched = new Set<string>();
  unmatched = new Set<string>();
  readonly #lex: ShellLexer;
  readonly #s: Scanner;
  readonly #env: Env;
  #rawEscapes: boolean;

  constructor(lex: ShellLexer, scanner: Scanner, env: Env) {
    this.#lex = lex;
    this.#s = scanner;
    this.#env = env;
    this.#rawEscapes = lex.options.rawEscapes ?? false;
  }

  get #esc(): string {
    return this.#lex.escapeToken;
  }

  processStopOn(stop: string, rawEscapes: boolean): [string, string[]] {
    const saved = this.#rawEscapes;
    this.#rawEscapes = rawEscapes;
    try {
      return this.#processStopOn(stop);
    } finally {
      this.#rawEscapes = saved;
    }
  }

  #processStopOn(stop: string): [string, string[]] {
    let result = "";
    const words = new WordCollector();
    const s = this.#s;
    const quotes = !this.#lex.options.skipProcessQuotes;
    while (s.peek() !== EOF) {
      const ch = s.peek();
      if (stop !== EOF && ch === stop) {
        s.next();
        return [result, words.finish()];
      }
      if (ch === "$") {
        const value = this.#processDollar();
        result += value;
        words.addString(value);
      } else if (quotes && ch === "'") {
        const value = this.#processSingleQuote();
        result += value;
        words.addRawString(value);
      } else if (quotes && ch === '"') {
        const value = this.#processDoubleQuote();
        result += value;
        words.addRawString(value);
      } else {
        let c = s.next();
        if (c === this.#esc) {
          if (this.#rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          // The escape token escapes the next character; at the very end it vanishes.
          c = s.next();
          if (c === EOF) break;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
    }
    if (stop !== EOF) {
      throw new SyntaxError(`unexpected end of statement while looking for matching ${stop}`);
    }
    return [result, words.finish()];
  }

  #processSingleQuote(): string {
    // Everything up to the next single quote is literal; a single quote cannot be escaped.
    const s = this.#s;
    const raw = this.#lex.options.rawQuotes ?? false;
    let result = raw ? s.next() : (s.next(), "");
    for (;;) {
      const ch = s.next();
      if (ch === EOF) {
        throw new SyntaxError("unexpected end of statement while looking for matching single-quote");
      }
      if (ch === "'") return raw ? result + ch : result;
      result += ch;
    }
  }

  #processDoubleQuote(): string {
    // Literal except `$` expansions; the escape token only escapes `"`, `$` and itself.
    const s = this.#s;
    const raw = this.#lex.options.rawQuotes ?? false;
    let result = raw ? s.next() : (s.next(), "");
    for (;;) {
      const peek = s.peek();
      if (peek === EOF) {
        throw new SyntaxError("unexpected end of statement while looking for matching double-quote");
      }
      if (peek === '"') {
        const ch = s.next();
        return raw ? result + ch : result;
      }
      if (peek === "$") {
        result += this.#processDollar();
        continue;
      }
      let ch = s.next();
      if (ch === this.#esc) {
        if (this.#rawEscapes) result += ch;
        const after = s.peek();
        if (after === EOF) continue;
        if (after === '"' || after === "$" || after === this.#esc) ch = s.next();
      }
      result += ch;
    }
  }

  #getEnv(name: string): string | undefined {
    const v = this.#env.get(name);
    if (v === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return v;
  }

  #processName(): string {
    const s = this.#s;
    let name = "";
    while (s.peek() !== EOF) {
      const ch = s.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (s.peek() !== EOF && isDigit(s.peek())) name += s.next();
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return s.next();
      if (!isLetter(ch) && !isDigit(ch) && ch !== "_") break;
      name += s.next();
    }
    return name;
  }

  #processDollar(): string {
    const s = this.#s;
    const skipUnset = this.#lex.options.skipUnsetEnv ?? false;
    s.next(); // the `$`
    if (s.peek() !== "{") {
      const name = this.#processName();
      if (name === "") return "$";
      const value = this.#getEnv(name);
      if (value === undefined && skipUnset) return "$" + name;
      return value ?? "";
    }
    s.next(); // the `{`
    const first = s.peek();
    if (first === EOF) throw new SyntaxError("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") {
      throw new SyntaxError("syntax error: bad substitution");
    }
    const name = this.#processName();
    let ch = s.next();
    let chs = ch;
    if (ch === "}") {
      const value = this.#getEnv(name);
      if (value === undefined && skipUnset) return "${" + name + "}";
      return value ?? "";
    }
    if (ch === "/") return this.#processReplace(name);
    let nullIsUnset = false;
    if (ch === ":") {
      nullIsUnset = true;
      ch = s.next();
      chs += ch;
    }
    if (!"+-?#%".includes(ch) || ch === EOF) {
      if (ch === EOF) throw new SyntaxError("syntax error: missing '}'");
      throw new SyntaxError(`unsupported modifier (${chs}) in substitution`);
    }
    const isPattern = ch === "#" || ch === "%";
    if (nullIsUnset && isPattern) throw new SyntaxError(`unsupported modifier (${chs}) in substitution`);
    let word: string;
    try {
      [word] = this.processStopOn("}", isPattern);
    } catch (e) {
      if (s.peek() === EOF) throw new SyntaxError("syntax error: missing '}'");
      throw e;
    }
    const value = this.#getEnv(name);
    if (value === undefined && skipUnset) return "${" + name + chs + word + "}";
    const empty = value === undefined || (nullIsUnset && value === "");
    switch (ch) {
      case "-":
        return empty ? word : value!;
      case "+":
        return empty ? "" : word;
      case "?":
        if (value === undefined) {
          throw new SyntaxError(`${name}: ${word || "is not allowed to be unset"}`);
        }
        if (nullIsUnset && value === "") {
          throw new SyntaxError(`${name}: ${word || "is not allowed to be empty"}`);
        }
        return value;
      default: {
        // `#`/`%` remove the shortest matching prefix/suffix, `##`/`%%` the longest.
        let greedy = false;
        if (word.startsWith(ch)) {
          greedy = true;
          word = word.slice(1);
        }
        return ch === "%" ? trimSuffix(word, value ?? "", greedy) : trimPrefix(word, value ?? "", greedy);
      }
    }
  }

  #processReplace(name: string): string {
    const s = this.#s;
    const skipUnset = this.#lex.options.skipUnsetEnv ?? false;
    const all = s.peek() === "/";
    if (all) s.next();
    let pattern: string;
    let replacement: string;
    try {
      [pattern] = this.processStopOn("/", true);
    } catch (e) {
      if (s.peek() === EOF) throw new SyntaxError("syntax error: missing '/' in ${}");
      throw e;
    }
    try {
      [replacement] = this.processStopOn("}", true);
    } catch (e) {
      if (s.peek() === EOF) throw new SyntaxError("syntax error: missing '}'");
      throw e;
    }
    const value = this.#getEnv(name);
    if (value === undefined && skipUnset) return "${" + name + "/" + pattern + "/" + replacement + "}";
    // A non-global RegExp replaces the first match only, a global one every match.
    const re = shellPatternToRegExp(pattern, true, false, all);
    return (value ?? "").replace(re, () => replacement);
  }
}

/**
 * Converts a shell wildcard pattern (`*`, `?`, `\x`) to a regular expression. Bracket
 * expressions are not supported (`[` is literal), as in BuildKit.
 */
export function shellPatternToRegExp(
  pattern: string,
  greedy: boolean,
  anchored: boolean,
  global = false,
): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? "^" : "";
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "*") out += greedy ? "[\\s\\S]*" : "[\\s\\S]*?";
    else if (c === "?") out += "[\\s\\S]";
    else if (c === "\\") {
      // `\}` and `\/` were only needed to get past the `${…}` lexer.
      const n = chars[i + 1];
      if (n === "}" || n === "/") continue;
      if (n !== "*" && n !== "?" && n !== "\\") {
        throw new SyntaxError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? ""}'`);
      }
      out += "\\" + n;
      i++;
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(out, global ? "gu" : "u");
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegExp(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Reverses a pattern keeping each escape before the character it escapes. */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const units: string[] = [];
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] === "\\" && i + 1 < chars.length) {
      units.push("\\" + chars[i + 1]);
      i++;
    } else units.push(chars[i]);
  }
  return units.reverse().join("");
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join("");
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // A regular expression finds the leftmost match, so the shortest *rightmost* match is
  // found by reversing both the pattern and the value.
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}
