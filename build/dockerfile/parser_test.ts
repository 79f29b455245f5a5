import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  chompHeredocContent,
  type DockerfileNode,
  DockerfileParseError,
  extractBuilderFlags,
  parseDockerfile,
  parseHeredoc,
  parseWords,
} from "./parser.ts";

/** A compact, comparable picture of a node: `keyword [flags] args (json) start-end`. */
function dump(n: DockerfileNode): string {
  let s = n.keyword;
  if (n.flags.length) s += " " + JSON.stringify(n.flags);
  s += " " + JSON.stringify(n.args);
  if (n.json) s += " json";
  s += ` ${n.startLine}-${n.endLine}`;
  return s;
}

/** [name, Dockerfile, expected dumps] */
const cases: [string, string, string[]][] = [
  ["simple FROM", "FROM busybox\n", ['from ["busybox"] 1-1']],
  ["FROM AS", "from busybox AS b\n", ['from ["busybox","AS","b"] 1-1']],
  ["FROM --platform", "FROM --platform=linux/amd64 busybox\n", [
    'from ["--platform=linux/amd64"] ["busybox"] 1-1',
  ]],
  ["FROM with tabs", "FROM\tbusybox \t as\tx\n", ['from ["busybox","as","x"] 1-1']],
  ["RUN shell form", "RUN echo hi\n", ['run ["echo hi"] 1-1']],
  ["RUN exec form", 'RUN ["echo","hi"]\n', ['run ["echo","hi"] json 1-1']],
  ["RUN JSON with spaces", 'RUN  [ "echo" , "a b" ] \n', ['run ["echo","a b"] json 1-1']],
  ["malformed JSON falls back to shell form", "RUN [echo, hi]\n", ['run ["[echo, hi]"] 1-1']],
  ["single-quoted JSON is shell form", "CMD ['sh', '-c']\n", [`cmd ["['sh', '-c']"] 1-1`]],
  ["JSON with trailing text is shell form", 'RUN ["echo"] more\n', ['run ["[\\"echo\\"] more"] 1-1']],
  ["JSON object is shell form", 'CMD {"a":1}\n', ['cmd ["{\\"a\\":1}"] 1-1']],
  ["empty JSON array", "CMD []\n", ["cmd [] json 1-1"]],
  ["JSON unicode escapes", 'CMD ["\\u0041"]\n', ['cmd ["A"] json 1-1']],
  ["keyword case-insensitive", "rUn echo\n", ['run ["echo"] 1-1']],
  ["leading whitespace", "   RUN   x  \n", ['run ["x"] 1-1']],
  ["RUN without args", "RUN\n", ["run [] 1-1"]],
  ["hash mid-line is data", "RUN echo a#b # c\n", ['run ["echo a#b # c"] 1-1']],
  ["comment line", "# hello\nFROM a\n", ['from ["a"] 2-2']],
  ["indented comment line", "FROM a\n    # hello\nRUN x\n", ['from ["a"] 1-1', 'run ["x"] 3-3']],
  ["continuation", "RUN a \\\n  b\n", ['run ["a   b"] 1-2']],
  ["continuation without space", "RUN a\\\nb\n", ['run ["ab"] 1-2']],
  ["continuation with trailing blanks", "RUN a \\ \t\nb\n", ['run ["a b"] 1-2']],
  ["three-line continuation", "RUN a \\\n b \\\n c\nRUN d\n", ['run ["a  b  c"] 1-3', 'run ["d"] 4-4']],
  ["continuation drops comment lines", "RUN a \\\n# x\n  # y \\\n b\n", ['run ["a  b"] 1-4']],
  ["continuation skips blank lines", "RUN a \\\n\n   \n b\n", ['run ["a  b"] 1-4']],
  ["continuation ending the file", "RUN a \\", ['run ["a"] 1-1']],
  ["continuation into EOF after comment", "RUN a \\\n# c\n", ['run ["a"] 1-2']],
  ["escaped escape does not continue", "RUN echo a\\\\\nRUN b\n", [
    'run ["echo a\\\\\\\\"] 1-1',
    'run ["b"] 2-2',
  ]],
  ["lone escape line continues", "RUN a \\\n\\\nb\n", ['run ["a b"] 1-3']],
  ["mid-line comment with trailing backslash swallows next line", "RUN echo kept # x \\\nRUN touch /no\n", [
    'run ["echo kept # x RUN touch /no"] 1-2',
  ]],
  ["CRLF line endings", "FROM a\r\nRUN b \\\r\n c\r\n", ['from ["a"] 1-1', 'run ["b  c"] 2-3']],
  ["BOM is ignored", "\uFEFFFROM a\n", ['from ["a"] 1-1']],
  ["line numbers count blanks and comments", "\n\n# c\n\nFROM a\n\nRUN b\n", [
    'from ["a"] 5-5',
    'run ["b"] 7-7',
  ]],
  ["no trailing newline", "FROM a\nRUN b", ['from ["a"] 1-1', 'run ["b"] 2-2']],
  ["flags", "COPY --from=build --chown=1:2 a b\n", ['copy ["--from=build","--chown=1:2"] ["a","b"] 1-1']],
  ["quoted flag value", 'COPY --chown="1 2" a b\n', ['copy ["--chown=1 2"] ["a","b"] 1-1']],
  ["single-quoted flag value", "COPY --chmod='755' a b\n", ['copy ["--chmod=755"] ["a","b"] 1-1']],
  ["escaped flag value", "COPY --chown=a\\ b x y\n", ['copy ["--chown=a b"] ["x","y"] 1-1']],
  ["RUN mount and network", "RUN --mount=type=cache,target=/c --network=none make\n", [
    'run ["--mount=type=cache,target=/c","--network=none"] ["make"] 1-1',
  ]],
  ["double dash ends flags", "RUN --network=none -- --x\n", ['run ["--network=none"] ["--x"] 1-1']],
  ["single dash is not a flag", "RUN -x\n", ['run ["-x"] 1-1']],
  ["bool flag", "COPY --link a b\n", ['copy ["--link"] ["a","b"] 1-1']],
  ["flags only", "RUN --network=none\n", ['run ["--network=none"] [] 1-1']],
  ["flag-like text after args stays", "RUN echo --x\n", ['run ["echo --x"] 1-1']],
  ["COPY list", "COPY a  b\tc /d/\n", ['copy ["a","b","c","/d/"] 1-1']],
  ["COPY JSON with spaces", 'COPY ["a b", "c d/"]\n', ['copy ["a b","c d/"] json 1-1']],
  ["ADD list", "ADD https://x/y.tgz /opt/\n", ['add ["https://x/y.tgz","/opt/"] 1-1']],
  ["VOLUME list", "VOLUME /a /b\n", ['volume ["/a","/b"] 1-1']],
  ["VOLUME JSON", 'VOLUME ["/a"]\n', ['volume ["/a"] json 1-1']],
  ["ENV legacy form", "ENV A b c  d\n", ['env ["A","b c  d"] 1-1']],
  ["ENV pairs", 'ENV A=1 B="x y" C=\n', ['env ["A","1","B","\\"x y\\"","C",""] 1-1']],
  ["ENV escaped space", "ENV A=x\\ y B=2\n", ['env ["A","x\\\\ y","B","2"] 1-1']],
  ["ENV value with equals", "ENV A=b=c\n", ['env ["A","b=c"] 1-1']],
  ["ENV quoted key", 'LABEL "a b"=c\n', ['label ["\\"a b\\"","c"] 1-1']],
  ["ENV single quotes keep escapes", "ENV A='x\\'\n", [`env ["A","'x\\\\'"] 1-1`]],
  ["LABEL multi-line", 'LABEL a=1 \\\n      b="two words"\n', ['label ["a","1","b","\\"two words\\""] 1-2']],
  ["ARG words", 'ARG A B=2 C="x y"\n', ['arg ["A","B=2","C=\\"x y\\""] 1-1']],
  ["ARG empty value", "ARG A=\n", ['arg ["A="] 1-1']],
  ["EXPOSE", "EXPOSE 80/tcp  443\n", ['expose ["80/tcp","443"] 1-1']],
  ["WORKDIR keeps spaces", "WORKDIR /a b\n", ['workdir ["/a b"] 1-1']],
  ["USER", "USER 1000:1000\n", ['user ["1000:1000"] 1-1']],
  ["STOPSIGNAL", "STOPSIGNAL SIGTERM\n", ['stopsignal ["SIGTERM"] 1-1']],
  ["MAINTAINER", "MAINTAINER Jo Doe <jo@x>\n", ['maintainer ["Jo Doe <jo@x>"] 1-1']],
  ["SHELL JSON", 'SHELL ["/bin/bash", "-c"]\n', ['shell ["/bin/bash","-c"] json 1-1']],
  ["HEALTHCHECK shell", "HEALTHCHECK --interval=5s CMD curl -f x\n", [
    'healthcheck ["--interval=5s"] ["CMD","curl -f x"] 1-1',
  ]],
  ["HEALTHCHECK JSON", 'HEALTHCHECK CMD ["curl","x"]\n', ['healthcheck ["CMD","curl","x"] json 1-1']],
  ["HEALTHCHECK NONE", "HEALTHCHECK NONE\n", ['healthcheck ["NONE"] 1-1']],
  ["ONBUILD", "ONBUILD RUN echo hi\n", ['onbuild ["run","echo hi"] 1-1']],
  ["ONBUILD with flags", "ONBUILD COPY --from=x a b\n", ['onbuild ["copy","a","b"] 1-1']],
  ["unknown instruction is kept", "FORM x\n", ["form [] 1-1"]],
  ["heredoc RUN", "RUN <<EOF\necho hi\nEOF\nRUN x\n", ['run ["<<EOF"] 1-3', 'run ["x"] 4-4']],
  ["heredoc COPY", "COPY <<EOF /dest\nhello\nEOF\n", ['copy ["<<EOF","/dest"] 1-3']],
  ["two heredocs", "RUN <<A cat >a && <<B cat >b\n1\nA\n2\nB\n", ['run ["<<A cat >a && <<B cat >b"] 1-5']],
  ["heredoc in JSON form is not read", 'RUN ["<<EOF"]\nEOF\n', ['run ["<<EOF"] json 1-1', "eof [] 2-2"]],
  ["heredoc not for ENV", "ENV A=<<EOF\nRUN b\n", ['env ["A","<<EOF"] 1-1', 'run ["b"] 2-2']],
  ["triple angle is not a heredoc", "RUN cat <<<EOF\nRUN x\n", ['run ["cat <<<EOF"] 1-1', 'run ["x"] 2-2']],
  ["quoted heredoc marker is text", 'RUN echo "<<EOF"\nRUN x\n', [
    'run ["echo \\"<<EOF\\""] 1-1',
    'run ["x"] 2-2',
  ]],
  ["heredoc after continuation", "RUN cat \\\n <<EOF\nx\nEOF\n", ['run ["cat  <<EOF"] 1-4']],
  ["heredoc in ONBUILD", "ONBUILD RUN <<EOF\necho\nEOF\n", ['onbuild ["run","<<EOF"] 1-3']],
  ["heredoc body keeps comment-like lines", "RUN <<EOF\n# not a comment\n\nEOF\n", ['run ["<<EOF"] 1-4']],
];

Deno.test("parseDockerfile: table", () => {
  for (const [name, text, want] of cases) {
    let got: string[];
    try {
      got = parseDockerfile(text).nodes.map(dump);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
    assertEquals(got, want, name);
  }
});

/** [name, Dockerfile, expected error message] */
const errors: [string, string, string][] = [
  ["empty file", "", "Dockerfile: file with no instructions"],
  ["only comments", "# a\n\n# b\n", "Dockerfile: file with no instructions"],
  ["only blank lines", "\n  \n\t\n", "Dockerfile: file with no instructions"],
  [
    "non-string JSON",
    'RUN ["echo", 1]\n',
    "Dockerfile:1: when using JSON array syntax, arrays must be comprised of strings only",
  ],
  [
    "nested JSON",
    'FROM a\nCMD [["x"]]\n',
    "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only",
  ],
  [
    "duplicate directive",
    "# escape=`\n# escape=\\\nFROM a\n",
    "Dockerfile:2: only one escape parser directive can be used",
  ],
  [
    "bad escape token",
    "# escape=x\nFROM a\n",
    "Dockerfile:1: invalid escape token 'x' does not match ` or \\",
  ],
  ["unterminated heredoc", "FROM a\nRUN <<EOF\nx\n", "Dockerfile:2: unterminated heredoc EOF"],
  ["ENV without value", "FROM a\nENV A\n", "Dockerfile:2: ENV must have two arguments"],
  [
    "ENV pair without =",
    "FROM a\nENV A=1 B\n",
    'Dockerfile:2: Syntax error - can\'t find = in "B". Must be of the form: name=value',
  ],
  ["LABEL without value", "FROM a\nLABEL x\n", "Dockerfile:2: LABEL must have two arguments"],
];

Deno.test("parseDockerfile: errors name file and line", () => {
  for (const [name, text, want] of errors) {
    let e: Error;
    try {
      parseDockerfile(text);
      throw new Error(`${name}: no error`);
    } catch (err) {
      e = err as Error;
    }
    assert(e instanceof DockerfileParseError, `${name}: ${e}`);
    assert(
      e.message.startsWith(want),
      `${name}: got ${JSON.stringify(e.message)}, want ${JSON.stringify(want)}`,
    );
  }
});

Deno.test("parseDockerfile: custom file name in errors", () => {
  const e = assertThrows(() => parseDockerfile('FROM a\nRUN ["x", true]\n', { file: "app/Dockerfile.dev" }));
  assertEquals(
    e.message,
    "app/Dockerfile.dev:2: when using JSON array syntax, arrays must be comprised of strings only",
  );
  assertEquals((e as DockerfileParseError).line, 2);
});

Deno.test("parseDockerfile: case 01 — comment and blank lines inside a continuation, # mid-line", () => {
  const text = `FROM $BASE
RUN printf '%s\\n' alpha \\
    # an indented comment line: removed by the parser, its trailing backslash is irrelevant \\
    beta \\

    gamma > /lines
RUN echo kept # a shell comment whose last character is a backslash \\
RUN touch /must-not-exist
RUN printf 'x' > /last
RUN test "$(cat /lines)" = "$(printf 'alpha\\nbeta\\ngamma')" && test ! -e /must-not-exist && test -f /last
`;
  const r = parseDockerfile(text);
  assertEquals(r.nodes.map((n) => n.keyword), ["from", "run", "run", "run", "run"]);
  assertEquals(r.nodes[1].args, ["printf '%s\\n' alpha     beta     gamma > /lines"]);
  assertEquals([r.nodes[1].startLine, r.nodes[1].endLine], [2, 6]);
  assertEquals(
    r.nodes[2].args,
    ["echo kept # a shell comment whose last character is a backslash RUN touch /must-not-exist"],
  );
  assertEquals([r.nodes[2].startLine, r.nodes[2].endLine], [7, 8]);
  assertEquals(r.nodes[3].startLine, 9);
  assertEquals(r.warnings.length, 1);
  assertEquals(r.warnings[0].line, 2);
});

Deno.test("parseDockerfile: directives", () => {
  const r = parseDockerfile(
    "# syntax=docker/dockerfile:1\n# check=skip=all\n#ESCAPE = `\nFROM a\nRUN x `\n y\n",
  );
  assertEquals(r.directives, { syntax: "docker/dockerfile:1", check: "skip=all", escape: "`" });
  assertEquals(r.escapeToken, "`");
  assertEquals(r.nodes.map(dump), ['from ["a"] 4-4', 'run ["x  y"] 5-6']);
});

Deno.test("parseDockerfile: with a backtick escape, a backslash at the end is text", () => {
  const r = parseDockerfile("# escape=`\nFROM a\nRUN dir c:\\\nRUN y\n");
  assertEquals(r.nodes.map(dump), ['from ["a"] 2-2', 'run ["dir c:\\\\"] 3-3', 'run ["y"] 4-4']);
});

Deno.test("parseDockerfile: directives only count at the very top", () => {
  for (
    const text of [
      "FROM a\n# escape=`\nRUN x \\\ny\n", // after an instruction
      "\n# escape=`\nFROM a\nRUN x \\\ny\n", // after a blank line
      "# hello\n# escape=`\nFROM a\nRUN x \\\ny\n", // after an ordinary comment
      "# foo=bar\n# escape=`\nFROM a\nRUN x \\\ny\n", // after an unknown directive
    ]
  ) {
    const r = parseDockerfile(text);
    assertEquals(r.escapeToken, "\\", JSON.stringify(text));
    assertEquals(r.nodes[r.nodes.length - 1].args, ["x y"], JSON.stringify(text));
  }
});

Deno.test("parseDockerfile: heredoc bodies, flags and delimiters", () => {
  const r = parseDockerfile(
    'FROM a\nRUN <<-EOT sh\n\techo $HOME\n\t\tEOT\nCOPY <<\'A\' <<"B" 3<<C /d/\n$x\nA\n$y\nB\nz\r\nC\r\nRUN <<E"O"F\nEOF\n',
  );
  const [, run, copy, last] = r.nodes;
  assertEquals(run.heredocs, [{ name: "EOT", fd: 0, expand: true, chomp: true, content: "\techo $HOME\n" }]);
  assertEquals(copy.heredocs.map((h) => [h.name, h.expand, h.fd, h.content]), [
    ["A", false, 0, "$x\n"],
    ["B", false, 0, "$y\n"],
    ["C", true, 3, "z\r\n"],
  ]);
  assertEquals([copy.startLine, copy.endLine], [5, 11]);
  assertEquals(last.heredocs.map((h) => [h.name, h.expand, h.content]), [["EOF", false, ""]]);
});

Deno.test("parseDockerfile: comments above instructions are kept", () => {
  const r = parseDockerfile("# first\n# second\nARG A\nFROM b\n");
  assertEquals(r.nodes[0].comments, ["first", "second"]);
  assertEquals(r.nodes[1].comments, []);
});

Deno.test("extractBuilderFlags", () => {
  const table: [string, [string, string[]]][] = [
    ["a b", ["a b", []]],
    ["--x=1 a", ["a", ["--x=1"]]],
    ["--x=1 --y a b", ["a b", ["--x=1", "--y"]]],
    ['--x="a b" c', ["c", ["--x=a b"]]],
    ["--x='' c", ["c", ["--x="]]],
    ["--x=1", ["", ["--x=1"]]],
    ["-- --x", [" --x", []]],
    ["-x --y", ["-x --y", []]],
    ["--x=a\\ b c", ["c", ["--x=a b"]]],
  ];
  for (const [line, want] of table) assertEquals(extractBuilderFlags(line), want, line);
});

Deno.test("parseWords keeps quotes and escapes for later expansion", () => {
  const table: [string, string[]][] = [
    ["a b", ["a", "b"]],
    ['a="b c" d', ['a="b c"', "d"]],
    ["a='b \\' c", ["a='b \\'", "c"]],
    ['a="b \\" c" d', ['a="b \\" c"', "d"]],
    ["a\\ b c", ["a\\ b", "c"]],
    ['""', ['""']],
    ["a\\", ["a"]],
  ];
  for (const [line, want] of table) assertEquals(parseWords(line, "\\"), want, line);
});

Deno.test("parseHeredoc", () => {
  assertEquals(parseHeredoc("<<EOF"), { name: "EOF", fd: 0, chomp: false, expand: true, content: "" });
  assertEquals(parseHeredoc("<<-EOF")?.chomp, true);
  assertEquals(parseHeredoc("<<'EOF'")?.expand, false);
  assertEquals(parseHeredoc('<<"EOF"')?.expand, false);
  assertEquals(parseHeredoc("<<\\EOF")?.name, "EOF");
  assertEquals(parseHeredoc("2<<EOF")?.fd, 2);
  assertEquals(parseHeredoc("<<"), undefined);
  assertEquals(parseHeredoc("<<<EOF"), undefined);
  assertEquals(parseHeredoc("a<<EOF"), undefined);
  assertEquals(parseHeredoc("<<'a b'")?.name, "a b");
  assertEquals(parseHeredoc("<<a b"), undefined);
});

Deno.test("chompHeredocContent strips leading tabs only", () => {
  assertEquals(chompHeredocContent("\t\ta\n\tb\n  c\n"), "a\nb\n  c\n");
});
