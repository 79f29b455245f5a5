import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { ShellLexer } from "./shell_lexer.ts";

const env = new Map([
  ["PWD", "/home"],
  ["SHELL", "bash"],
  ["KOREAN", "한국어"],
  ["NULL", ""],
  ["SPACED", "a b"],
  ["V", "aXbXc"],
  ["STAR", "a*b"],
  ["FILE", "archive.tar.gz"],
  ["PATHV", "/usr/local/bin"],
]);

/** [word, expected result, or an Error substring] for processWord with `\` escapes. */
const words: [string, string | Error][] = [
  ["hello", "hello"],
  ["he'll'o", "hello"],
  ["he'llo", new Error("matching single-quote")],
  ["he\\'llo", "he'llo"],
  ["he\\\\'llo", new Error("matching single-quote")],
  ["abc\\\\def", "abc\\def"],
  ['"hello"', "hello"],
  ['"hello\\"', new Error("matching double-quote")],
  ["'hello\\'", "hello\\"],
  [`"''"`, "''"],
  [`'""'`, '""'],
  ['he\\"llo', 'he"llo'],
  ['"he\\llo"', "he\\llo"],
  ['"a\\\\b"', "a\\b"],
  ['"a\\$PWD"', "a$PWD"],
  ["abc\\", "abc"],
  ["$.", "$."],
  ["a$", "a$"],
  ["$", "$"],
  ["he$1x", "hex"],
  ["he$.x", "he$.x"],
  ["he$pwd.", "he."],
  ["he$PWD", "he/home"],
  ["he\\$PWD", "he$PWD"],
  ["he\\\\$PWD", "he\\/home"],
  ['"\\\\$PWD"', "\\/home"],
  ["he\\${}", "he${}"],
  ["he\\${}xx", "he${}xx"],
  ["he${}", new Error("bad substitution")],
  ["he${:x}", new Error("bad substitution")],
  ["he${{x}", new Error("bad substitution")],
  ["he${PWD}", "he/home"],
  ["he${PWD}x${SHELL}", "he/homexbash"],
  ["he${.}", new Error("unsupported modifier (.)")],
  ["he${XXX:-000}xx", "he000xx"],
  ["he${PWD:-000}xx", "he/homexx"],
  ["he${XXX:-$PWD}xx", "he/homexx"],
  ["he${XXX:-${PWD:-yyy}}xx", "he/homexx"],
  ["he${XXX:-${YYY:-yyy}}xx", "heyyyxx"],
  ["he${XXX:YYY}", new Error("unsupported modifier (:Y)")],
  ["${NULL:-x}", "x"],
  ["${NULL-x}", ""],
  ["${XXX-x}", "x"],
  ["${NULL:+x}", ""],
  ["${NULL+x}", "x"],
  ["${PWD:+x}", "x"],
  ["${PWD+x}", "x"],
  ["${XXX+x}", ""],
  ["${XXX:+x}", ""],
  ["he${PWD?}", "he/home"],
  ["he${NULL?}", "he"],
  ["he${XXX?}", new Error("XXX: is not allowed to be unset")],
  ["he${NULL:?}", new Error("NULL: is not allowed to be empty")],
  ["he${XXX:?custom message}", new Error("XXX: custom message")],
  ["he${PWD:?msg}", "he/home"],
  ["${V#*X}", "bXc"],
  ["${V##*X}", "c"],
  ["${V%X*}", "aXb"],
  ["${V%%X*}", "a"],
  ["${V#?}", "XbXc"],
  ["${V%?}", "aXbX"],
  ["${V#zzz}", "aXbXc"],
  ["${V%zzz}", "aXbXc"],
  ["${V#a}", "XbXc"],
  ["${V#X}", "aXbXc"],
  ["${STAR#a\\*}", "b"],
  ["${STAR#a*}", "*b"],
  ["${FILE%.*}", "archive.tar"],
  ["${FILE%%.*}", "archive"],
  ["${FILE#*.}", "tar.gz"],
  ["${FILE##*.}", "gz"],
  ["${PATHV##*/}", "bin"],
  ["${PATHV%/*}", "/usr/local"],
  ["${XXX#a}", ""],
  ["${V:#x}", new Error("unsupported modifier (:#)")],
  ["${V/X/-}", "a-bXc"],
  ["${V//X/-}", "a-b-c"],
  ["${V/X*/-}", "a-"],
  ["${V/nope/-}", "aXbXc"],
  ["${PATHV//\\//:}", ":usr:local:bin"],
  ["${KOREAN}", "한국어"],
  ["$KOREAN!", "한국어!"],
  ["${KOREAN:1}", new Error("unsupported modifier (:1)")],
  ["${PWD", new Error("missing '}'")],
  ["${PWD:-abc", new Error("missing '}'")],
  ["${", new Error("missing '}'")],
  ["$$", ""],
  ['"${PWD}"', "/home"],
  ["'${PWD}'", "${PWD}"],
  ['"$SPACED"', "a b"],
  ["x${SPACED}y", "xa by"],
  ["${PWD}_${SHELL}", "/home_bash"],
  ["$PWD_$SHELL", "bash"], // PWD_ is one (unset) name
  ["a b  c", "a b  c"],
  ["\"a\"'b'c", "abc"],
  ["\\a\\b", "ab"],
];

Deno.test("ShellLexer.processWord: table", () => {
  const lex = new ShellLexer();
  for (const [word, want] of words) {
    if (want instanceof Error) {
      let got: unknown = undefined;
      try {
        lex.processWord(word, env);
      } catch (e) {
        got = e;
      }
      if (!(got instanceof SyntaxError) || !got.message.includes(want.message)) {
        throw new Error(`word ${JSON.stringify(word)}: expected an error with ${want.message}, got ${got}`);
      }
    } else {
      assertEquals(lex.processWord(word, env), want, `word ${JSON.stringify(word)}`);
    }
  }
});

/** [word, expected words] for processWords. */
const split: [string, string[]][] = [
  ["hello world", ["hello", "world"]],
  ['"hello world"', ["hello world"]],
  ["$SPACED x", ["a", "b", "x"]],
  ['"$SPACED" x', ["a b", "x"]],
  ["a\\ b", ["a b"]],
  ["  lead  trail  ", ["lead", "trail"]],
  ["''", []],
  ["x''y", ["xy"]],
  ["80/tcp $XXX 443", ["80/tcp", "443"]],
  ["'a b'c d", ["a bc", "d"]],
  ["${SPACED:-x}y", ["a", "by"]],
];

Deno.test("ShellLexer.processWords: table", () => {
  const lex = new ShellLexer();
  for (const [word, want] of split) assertEquals(lex.processWords(word, env), want, `word ${word}`);
});

Deno.test("ShellLexer: backtick escape token leaves backslashes alone", () => {
  const lex = new ShellLexer({ escapeToken: "`" });
  assertEquals(lex.processWord("he`$PWD", env), "he$PWD");
  assertEquals(lex.processWord("C:\\path\\$SHELL", env), "C:\\path\\bash");
  assertEquals(lex.processWord('"a`"b"', env), 'a"b');
  assertEquals(lex.processWord("a``b", env), "a`b");
});

Deno.test("ShellLexer: skipUnsetEnv keeps references to unset names", () => {
  const lex = new ShellLexer({ skipUnsetEnv: true });
  assertEquals(lex.processWord("$PWD $NOPE ${NOPE} ${NOPE:-x}", env), "/home $NOPE ${NOPE} ${NOPE:-x}");
});

Deno.test("ShellLexer: skipProcessQuotes treats quotes as text (heredoc bodies)", () => {
  const lex = new ShellLexer({ skipProcessQuotes: true });
  assertEquals(lex.processWord(`echo "$PWD" '$SHELL'\n`, env), `echo "/home" 'bash'\n`);
  assertEquals(lex.processWord("cost \\$5\n", env), "cost $5\n");
});

Deno.test("ShellLexer: rawQuotes keeps quote characters", () => {
  const lex = new ShellLexer({ rawQuotes: true });
  assertEquals(lex.processWord(`"a"'b'`, env), `"a"'b'`);
});

Deno.test("ShellLexer.process reports matched and unmatched names", () => {
  const r = new ShellLexer().process("$PWD ${NOPE:-x} $NULL", env);
  assertEquals([...r.matched].sort(), ["NULL", "PWD"]);
  assertEquals([...r.unmatched], ["NOPE"]);
});

Deno.test("ShellLexer: error message names the word", () => {
  const e = assertThrows(() => new ShellLexer().processWord("${A", env), SyntaxError);
  assertEquals(e.message, `failed to process "\${A": syntax error: missing '}'`);
});
