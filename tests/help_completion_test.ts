/**
 * `ctr --help`, `ctr help COMMAND [SUB]` and `ctr completion bash|zsh|fish`, driven as a
 * user would: the help texts through `./ctr`, the completion scripts loaded into real bash,
 * zsh and fish, completing words of a command line (with names of images, containers,
 * networks and volumes that ctr itself lists for the `--root` on that line).
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { ctr, fixture, IS_ROOT, REPO, withRoot } from "./helpers.ts";

const root = { ignore: !IS_ROOT };

async function has(program: string): Promise<boolean> {
  const out = await new Deno.Command("sh", { args: ["-c", `command -v ${program}`], stdout: "null" })
    .output();
  return out.success;
}

async function shell(program: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(program, {
    args,
    env: { PATH: `${REPO}:${Deno.env.get("PATH")}`, ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`${program} failed: ${new TextDecoder().decode(out.stderr)}\n${text}`);
  return text;
}

Deno.test("ctr --help lists every group; ctr help CMD SUB is CMD SUB --help", async () => {
  const top = await ctr("/nonexistent-root", ["--help"]);
  assertEquals(top.code, 0);
  for (
    const s of [
      "Usage:  ctr [OPTIONS] COMMAND",
      "Container commands:",
      "  run ",
      "  completion ",
      "--root DIR",
    ]
  ) {
    assertStringIncludes(top.stdout, s);
  }
  assertEquals((await ctr("/nonexistent-root", ["help"])).stdout, top.stdout);
  for (
    const path of [["image", "ls"], ["volume", "create"], ["system", "prune"], ["run"], [
      "trust",
      "key",
      "ls",
    ]]
  ) {
    const viaHelp = await ctr("/nonexistent-root", ["help", ...path]);
    const viaFlag = await ctr("/nonexistent-root", [...path, "--help"]);
    assertEquals(viaHelp.code, 0, path.join(" "));
    assertEquals(viaHelp.stdout, viaFlag.stdout, path.join(" "));
    assertStringIncludes(viaHelp.stdout, `Usage:  ctr ${path.join(" ")}`);
  }
  const unknown = await ctr("/nonexistent-root", ["help", "frobnicate"]);
  assertEquals(unknown.code, 1);
  assertStringIncludes(unknown.stderr, "unknown help topic: frobnicate");
  const badShell = await ctr("/nonexistent-root", ["completion", "tcsh"]);
  assertEquals(badShell.code, 125);
  assertStringIncludes(badShell.stderr, 'unsupported shell "tcsh"');
});

/** A state root with an image, a container, a network and a volume to complete. */
async function populated(state: string): Promise<void> {
  const steps = [
    ["import", await fixture("busybox"), "busybox:latest"],
    ["create", "--name", "webby", "busybox", "true"],
    ["network", "create", "backnet"],
    ["volume", "create", "datavol"],
  ];
  for (const args of steps) {
    const r = await ctr(state, args);
    assertEquals(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  }
}

/** Command lines (the last word is being completed) and words the completion must offer. */
function cases(state: string): [string[], string[], string[]][] {
  const r = ["--root", state];
  return [
    [["ctr", "im"], ["images", "import", "image"], ["run"]],
    [["ctr", "image", ""], ["ls", "prune", "inspect"], ["images"]],
    [["ctr", "system", ""], ["df", "prune", "info", "reset"], []],
    [["ctr", "image", "ls", "--"], ["--all", "--digests", "--format", "--quiet"], ["--rm"]],
    [["ctr", "run", "--"], ["--rm", "--detach", "--memory", "--publish"], []],
    [[...["ctr", ...r], "run", ""], ["busybox:latest"], ["webby"]],
    [[...["ctr", ...r], "rm", ""], ["webby"], ["busybox:latest"]],
    // Typed as a path: names come from that same program.
    [[`${REPO}/ctr`, ...r, "stop", ""], ["webby"], []],
    [[...["ctr", ...r], "start", "-a", ""], ["webby"], []],
    [[...["ctr", ...r], "run", "--network", ""], ["backnet", "bridge", "host", "none"], []],
    [[...["ctr", ...r], "network", "rm", ""], ["backnet"], []],
    [[...["ctr", ...r], "volume", "inspect", ""], ["datavol"], []],
    [[...["ctr", ...r], "tag", "busy"], ["busybox:latest"], []],
    [["ctr", "completion", ""], ["bash", "zsh", "fish"], []],
    [["ctr", "help", "vol"], ["volume"], []],
  ];
}

function check(shell: string, line: string[], got: string[], want: string[], not: string[]): void {
  const where = `${shell} ${JSON.stringify(line)}`;
  for (const w of want) assert(got.includes(w), `${where}: ${w} missing from ${JSON.stringify(got)}`);
  for (const w of not) assert(!got.includes(w), `${where}: ${w} offered: ${JSON.stringify(got)}`);
}

Deno.test(
  "completion scripts complete commands, flags and object names in bash, zsh and fish (root)",
  root,
  () =>
    withRoot(async (state) => {
      await populated(state);
      const dir = await Deno.makeTempDir({ prefix: "ctr-completion-" });
      try {
        for (const sh of ["bash", "zsh", "fish"]) {
          const r = await ctr(state, ["completion", sh]);
          assertEquals(r.code, 0, r.stderr);
          await Deno.writeTextFile(`${dir}/ctr.${sh}`, r.stdout);
        }
        const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

        // bash: call the completion function as readline would.
        const bashLines = cases(state).map(([line]) =>
          `COMP_WORDS=(${line.map(q).join(" ")}); COMP_CWORD=${line.length - 1}; _ctr; ` +
          `printf '%s\\n' "\${COMPREPLY[@]}"; echo '--end--'`
        );
        const bash = (await shell("bash", ["-c", `source ${dir}/ctr.bash\n${bashLines.join("\n")}`]))
          .split("--end--\n");
        cases(state).forEach(([line, want, not], i) =>
          check("bash", line, bash[i].split("\n").filter(Boolean), want, not)
        );

        // zsh: the completion system's builtins stand in as printers of what they are given.
        if (await has("zsh")) {
          const zshLines = cases(state).map(([line]) =>
            `words=(${line.map(q).join(" ")}); CURRENT=${line.length}; _ctr; echo '--end--'`
          );
          const prelude = [
            "compdef() { :; }",
            // Like the real ones, they offer only the candidates that start with the word typed.
            '_describe() { local arr=$4 c; for c in "${(@)${(P)arr}%%:*}"; do [[ $c == "${words[CURRENT]}"* ]] && print -r -- "$c"; done; }',
            'compadd() { local c; [[ $1 == -- ]] && shift; for c in "$@"; do [[ $c == "${words[CURRENT]}"* ]] && print -r -- "$c"; done; }',
            "_files() { print -r -- '<files>'; }",
          ].join("\n");
          const zsh =
            (await shell("zsh", ["-f", "-c", `${prelude}\nsource ${dir}/ctr.zsh\n${zshLines.join("\n")}`]))
              .split("--end--\n");
          cases(state).forEach(([line, want, not], i) =>
            check("zsh", line, zsh[i].split("\n").filter(Boolean), want, not)
          );
        } else console.log("zsh is not installed: its script was not exercised");

        // fish: its own `complete -C` asks the loaded completions.
        if (await has("fish")) {
          const fishLines = cases(state).map(([line]) =>
            `complete -C ${q(line.join(" "))} | string split -f1 \\t; echo -- '--end--'`
          );
          const fish =
            (await shell("fish", ["--no-config", "-c", `source ${dir}/ctr.fish\n${fishLines.join("\n")}`]))
              .split("--end--\n");
          cases(state).forEach(([line, want, not], i) =>
            check("fish", line, fish[i].split("\n").filter(Boolean), want, not)
          );
        } else console.log("fish is not installed: its script was not exercised");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }),
);
