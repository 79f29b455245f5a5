import { assert, assertEquals } from "../../tests/assert.ts";
import { DockerfileParseError } from "./parser.ts";
import { type Instruction, parseDockerfileStages, parseGoDuration } from "./instructions.ts";

function only(text: string): Instruction {
  const df = parseDockerfileStages("FROM a\n" + text);
  assertEquals(df.stages[0].instructions.length, 1, text);
  return df.stages[0].instructions[0];
}

/** [name, instruction text, expected fields (subset)] */
const ok: [string, string, Record<string, unknown>][] = [
  ["RUN shell", "RUN echo hi", { kind: "RUN", command: ["echo hi"], prependShell: true, mounts: [] }],
  ["RUN exec", 'RUN ["a","b"]', { kind: "RUN", command: ["a", "b"], prependShell: false }],
  ["RUN mounts", "RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t make", {
    mounts: ["type=cache,target=/c", "type=tmpfs,target=/t"],
  }],
  ["RUN network", "RUN --network=none true", { network: "none" }],
  ["RUN security", "RUN --security=insecure true", { security: "insecure" }],
  ["CMD shell", "CMD nginx -g 'daemon off;'", {
    kind: "CMD",
    command: ["nginx -g 'daemon off;'"],
    prependShell: true,
  }],
  ["CMD exec", 'CMD ["sh"]', { kind: "CMD", command: ["sh"], prependShell: false }],
  ["CMD empty JSON", "CMD []", { command: [], prependShell: false }],
  ["ENTRYPOINT exec", 'ENTRYPOINT ["/bin/app", "--x"]', { kind: "ENTRYPOINT", command: ["/bin/app", "--x"] }],
  ["LABEL pairs", 'LABEL a=1 "b c"=d', { pairs: [{ key: "a", value: "1" }, { key: '"b c"', value: "d" }] }],
  ["LABEL legacy", "LABEL version 1.0 beta", { pairs: [{ key: "version", value: "1.0 beta" }] }],
  ["MAINTAINER", "MAINTAINER me", { maintainer: "me" }],
  ["EXPOSE", "EXPOSE 80 443/udp", { ports: ["80", "443/udp"] }],
  ["ENV", "ENV A=1 B=2", { pairs: [{ key: "A", value: "1" }, { key: "B", value: "2" }] }],
  ["ENV legacy", "ENV PATH /x:$PATH", { pairs: [{ key: "PATH", value: "/x:$PATH" }] }],
  ["COPY", "COPY a b /c/", { kind: "COPY", sources: ["a", "b"], dest: "/c/", contents: [], link: false }],
  ["COPY flags", "COPY --from=build --chown=1:2 --chmod=644 --link x /y", {
    from: "build",
    chown: "1:2",
    chmod: "644",
    link: true,
  }],
  ["COPY link=false", "COPY --link=false x /y", { link: false }],
  ["COPY exclude", "COPY --exclude=*.md --exclude=tmp . /app", { exclude: ["*.md", "tmp"] }],
  ["COPY parents", "COPY --parents a/b /c", { parents: true }],
  ["COPY JSON", 'COPY ["a b", "/c d"]', { sources: ["a b"], dest: "/c d", json: true }],
  ["COPY heredoc", "COPY <<EOF /x\nhi $A\nEOF", {
    sources: [],
    contents: [{ path: "EOF", data: "hi $A\n", expand: true }],
  }],
  ["COPY chomped quoted heredoc", "COPY <<-'EOF' /x\n\thi\n\tEOF", {
    contents: [{ path: "EOF", data: "hi\n", expand: false }],
  }],
  ["COPY heredoc and file", "COPY a <<B /x\nb\nB", {
    sources: ["a"],
    contents: [{ path: "B", data: "b\n", expand: true }],
  }],
  ["ADD", "ADD --checksum=sha256:abc https://e/x /x", {
    kind: "ADD",
    checksum: "sha256:abc",
    sources: ["https://e/x"],
  }],
  ["ADD keep-git-dir unpack", "ADD --keep-git-dir --unpack=false a /b", { keepGitDir: true, unpack: false }],
  ["VOLUME", "VOLUME /a /b", { paths: ["/a", "/b"] }],
  ["USER", "USER app:app", { user: "app:app" }],
  ["WORKDIR", "WORKDIR /srv/app", { path: "/srv/app" }],
  ["ARG", "ARG A B=2 C=", { args: [{ key: "A" }, { key: "B", value: "2" }, { key: "C", value: "" }] }],
  ["STOPSIGNAL", "STOPSIGNAL 9", { signal: "9" }],
  ["SHELL", 'SHELL ["/bin/bash","-eo","pipefail","-c"]', { shell: ["/bin/bash", "-eo", "pipefail", "-c"] }],
  ["HEALTHCHECK NONE", "HEALTHCHECK NONE", { health: { test: ["NONE"] } }],
  ["HEALTHCHECK shell", "HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD wget -q x || exit 1", {
    health: { test: ["CMD-SHELL", "wget -q x || exit 1"], interval: 30e9, timeout: 3e9, retries: 3 },
  }],
  ["HEALTHCHECK exec", 'HEALTHCHECK --start-period=1m30s --start-interval=5s CMD ["true"]', {
    health: { test: ["CMD", "true"], startPeriod: 90e9, startInterval: 5e9 },
  }],
  ["HEALTHCHECK lower-case cmd", "HEALTHCHECK cmd true", { health: { test: ["CMD-SHELL", "true"] } }],
  ["ONBUILD", "ONBUILD RUN echo $X", { kind: "ONBUILD", expression: "RUN echo $X" }],
  ["ONBUILD heredoc", "ONBUILD RUN <<EOF\necho\nEOF", { expression: "RUN <<EOF\necho\nEOF" }],
  ["line numbers", "RUN a \\\n b", { line: 2, endLine: 3, original: "RUN a  b" }],
];

Deno.test("parseInstruction: table", () => {
  for (const [name, text, want] of ok) {
    let got: Instruction;
    try {
      got = only(text + "\n");
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
    for (const [k, v] of Object.entries(want)) {
      assertEquals((got as unknown as Record<string, unknown>)[k], v, `${name}: ${k}`);
    }
  }
});

/** [name, Dockerfile, expected message] */
const bad: [string, string, string][] = [
  [
    "unknown instruction with hint",
    "FROM a\nRUN x\n\n\n\n\nFORM b\n",
    "Dockerfile:7: unknown instruction: FORM (did you mean FROM?)",
  ],
  ["unknown instruction", "FROM a\nFROBNICATE x\n", "Dockerfile:2: unknown instruction: FROBNICATE"],
  ["instruction before FROM", "RUN x\nFROM a\n", "Dockerfile:1: no build stage in current context"],
  ["only ARGs", "ARG A\n", "Dockerfile: no build stage in current context"],
  ["FROM two args", "FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"],
  ["FROM no args", "FROM\n", "Dockerfile:1: FROM requires either one or three arguments"],
  ["FROM bad AS", "FROM a FOR b\n", "Dockerfile:1: FROM requires either one or three arguments"],
  [
    "bad stage name",
    "FROM a AS 1x\n",
    'Dockerfile:1: invalid name for build stage: "1x", name can\'t start with a number or contain symbols',
  ],
  [
    "duplicate stage",
    "FROM a AS x\nFROM b AS X\n",
    'Dockerfile:2: duplicate stage name "x", stage names should be unique',
  ],
  ["FROM unknown flag", "FROM --plat=x a\n", "Dockerfile:1: unknown flag: plat (did you mean platform?)"],
  [
    "COPY one arg",
    "FROM a\nCOPY x\n",
    "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined",
  ],
  ["ADD one arg", "FROM a\nADD x\n", "Dockerfile:2: ADD requires at least two arguments"],
  [
    "COPY heredoc dest",
    "FROM a\nCOPY x <<EOF\nEOF\n",
    "Dockerfile:2: COPY cannot accept a heredoc as a destination",
  ],
  [
    "COPY typo flag",
    "FROM a\nCOPY --chwon=1 a b\n",
    "Dockerfile:2: unknown flag: chwon (did you mean chown?)",
  ],
  ["COPY flag without value", "FROM a\nCOPY --from a b\n", "Dockerfile:2: missing a value on flag: from"],
  [
    "COPY duplicate flag",
    "FROM a\nCOPY --from=x --from=y a b\n",
    "Dockerfile:2: duplicate flag specified: from",
  ],
  [
    "COPY bad bool",
    "FROM a\nCOPY --link=maybe a b\n",
    "Dockerfile:2: expecting boolean value for flag link, not: maybe",
  ],
  ["COPY empty bool", "FROM a\nCOPY --link= a b\n", "Dockerfile:2: missing a value on flag: link"],
  ["RUN unknown flag", "FROM a\nRUN --mnt=x y\n", "Dockerfile:2: unknown flag: mnt"],
  ["ENV flag", "FROM a\nENV --x=1 A=b\n", "Dockerfile:2: unknown flag: x"],
  ["ENV no args", "FROM a\nENV\n", "Dockerfile:2: ENV requires at least one argument"],
  ["ENV blank name", "FROM a\nENV =x\n", "Dockerfile:2: ENV names can not be blank"],
  ["LABEL no args", "FROM a\nLABEL\n", "Dockerfile:2: LABEL requires at least one argument"],
  ["ARG blank name", "FROM a\nARG =x\n", "Dockerfile:2: ARG names can not be blank"],
  ["ARG no args", "FROM a\nARG\n", "Dockerfile:2: ARG requires at least one argument"],
  ["EXPOSE no args", "FROM a\nEXPOSE\n", "Dockerfile:2: EXPOSE requires at least one argument"],
  ["VOLUME no args", "FROM a\nVOLUME\n", "Dockerfile:2: VOLUME requires at least one argument"],
  ["VOLUME empty", 'FROM a\nVOLUME [" "]\n', "Dockerfile:2: VOLUME specified can not be an empty string"],
  ["USER no args", "FROM a\nUSER\n", "Dockerfile:2: USER requires exactly one argument"],
  ["WORKDIR no args", "FROM a\nWORKDIR\n", "Dockerfile:2: WORKDIR requires exactly one argument"],
  ["STOPSIGNAL no args", "FROM a\nSTOPSIGNAL\n", "Dockerfile:2: STOPSIGNAL requires exactly one argument"],
  ["MAINTAINER no args", "FROM a\nMAINTAINER\n", "Dockerfile:2: MAINTAINER requires exactly one argument"],
  [
    "SHELL shell form",
    "FROM a\nSHELL /bin/bash -c\n",
    "Dockerfile:2: SHELL requires the arguments to be in JSON form",
  ],
  ["SHELL empty", "FROM a\nSHELL []\n", "Dockerfile:2: SHELL requires at least one argument"],
  [
    "HEALTHCHECK no args",
    "FROM a\nHEALTHCHECK\n",
    "Dockerfile:2: HEALTHCHECK requires at least one argument",
  ],
  [
    "HEALTHCHECK NONE args",
    "FROM a\nHEALTHCHECK NONE x\n",
    "Dockerfile:2: HEALTHCHECK NONE takes no arguments",
  ],
  [
    "HEALTHCHECK bad type",
    "FROM a\nHEALTHCHECK RUN x\n",
    'Dockerfile:2: Unknown type "RUN" in HEALTHCHECK (try CMD)',
  ],
  ["HEALTHCHECK no cmd", "FROM a\nHEALTHCHECK CMD\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD"],
  [
    "HEALTHCHECK short interval",
    "FROM a\nHEALTHCHECK --interval=1us CMD x\n",
    'Dockerfile:2: Interval "interval" cannot be less than 1ms',
  ],
  [
    "HEALTHCHECK bad duration",
    "FROM a\nHEALTHCHECK --timeout=5 CMD x\n",
    'Dockerfile:2: time: invalid duration "5"',
  ],
  [
    "HEALTHCHECK zero retries",
    "FROM a\nHEALTHCHECK --retries=0 CMD x\n",
    "Dockerfile:2: --retries must be at least 1 (not 0)",
  ],
  [
    "ONBUILD ONBUILD",
    "FROM a\nONBUILD ONBUILD RUN x\n",
    "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
  ],
  ["ONBUILD FROM", "FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"],
  [
    "ONBUILD MAINTAINER",
    "FROM a\nONBUILD MAINTAINER b\n",
    "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger",
  ],
  ["ONBUILD empty", "FROM a\nONBUILD\n", "Dockerfile:2: ONBUILD requires at least one argument"],
  ["ONBUILD bad trigger", "FROM a\nONBUILD COPY x\n", "Dockerfile:2: COPY requires at least two arguments"],
  [
    "error at start of multi-line instruction",
    "FROM a\nCOPY \\\n --chwon=1 \\\n a b\n",
    "Dockerfile:2: unknown flag: chwon",
  ],
];

Deno.test("dockerfileStages: errors with file:line and the problem", () => {
  for (const [name, text, want] of bad) {
    let e: unknown;
    try {
      parseDockerfileStages(text);
    } catch (err) {
      e = err;
    }
    assert(e instanceof DockerfileParseError, `${name}: expected a DockerfileParseError, got ${e}`);
    assert(
      e.message.startsWith(want),
      `${name}: got ${JSON.stringify(e.message)}, want ${JSON.stringify(want)}`,
    );
  }
});

Deno.test("dockerfileStages: meta args, stages, names", () => {
  const df = parseDockerfileStages(
    "ARG BASE=busybox\nARG V\nFROM ${BASE}:$V AS Build\nRUN make\nFROM --platform=$BUILDPLATFORM scratch\nCOPY --from=build /out /\n",
  );
  assertEquals(df.metaArgs.map((a) => a.args), [[{ key: "BASE", value: "busybox" }], [{ key: "V" }]]);
  assertEquals(df.stages.length, 2);
  assertEquals(df.stages[0].name, "build");
  assertEquals(df.stages[0].from.image, "${BASE}:$V");
  assertEquals(df.stages[1].from.platform, "$BUILDPLATFORM");
  assertEquals(df.stages[1].index, 1);
  assertEquals(df.stages[1].instructions[0].kind, "COPY");
});

Deno.test("parseGoDuration", () => {
  const table: [string, number][] = [
    ["0", 0],
    ["1ns", 1],
    ["1us", 1e3],
    ["1µs", 1e3],
    ["250ms", 250e6],
    ["30s", 30e9],
    ["1.5s", 1.5e9],
    [".5s", 0.5e9],
    ["1m30s", 90e9],
    ["2h", 7200e9],
    ["1h2m3s4ms", 3723004e6],
  ];
  for (const [s, ns] of table) assertEquals(parseGoDuration(s), ns, s);
  for (const s of ["", "5", "s", "1x", "1.5", "-"]) {
    let threw = false;
    try {
      parseGoDuration(s);
    } catch {
      threw = true;
    }
    assert(threw, `expected ${JSON.stringify(s)} to be rejected`);
  }
});
