/**
 * The real-world cases of the build issue, each as a real `ctr build` followed by the
 * `ctr run` checks the case file prescribes, plus a failing RUN that must leave nothing
 * behind.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { ctr, REPO } from "./helpers.ts";
import { build, buildOk, buildTest, runIn, withContext } from "./build_helpers.ts";

buildTest(
  "build case 01: comment and blank lines inside continuations; # mid-line is not a comment",
  async (root) => {
    const dockerfile = `FROM busybox
RUN printf '%s\\n' alpha \\
    # an indented comment line: removed by the parser, its trailing backslash is irrelevant \\
    beta \\

    gamma > /lines
RUN echo kept # a shell comment whose last character is a backslash \\
RUN touch /must-not-exist
RUN printf 'x' > /last
RUN test "$(cat /lines)" = "$(printf 'alpha\\nbeta\\ngamma')" && test ! -e /must-not-exist && test -f /last
`;
    await withContext({ Dockerfile: dockerfile }, async (dir) => {
      const r = await buildOk(root, dir, ["-t", "t01"]);
      assertStringIncludes(r.stderr, "Empty continuation line");
      assertEquals(await runIn(root, ["t01", "cat", "/lines"]), "alpha\nbeta\ngamma\n");
      await runIn(root, ["t01", "test", "-e", "/must-not-exist"], 1);
      const history = await ctr(root, ["history", "--no-trunc", "--format", "{{.CreatedBy}}", "t01"]);
      const runs = history.stdout.split("\n").filter((l) => l.startsWith("RUN "));
      assertEquals(runs.length, 4, history.stdout);
    });
  },
);

buildTest("build case 02: an ARG before FROM is seen inside a stage only when re-declared", async (root) => {
  const dockerfile = `ARG BASE_IMAGE
ARG GREETING=hello
ARG ONLY_GLOBAL=from-global
FROM \${BASE_IMAGE} AS first
ARG GREETING
ARG STAGE_LOCAL=one
RUN printf '%s|%s|%s' "$GREETING" "$ONLY_GLOBAL" "$STAGE_LOCAL" > /first.txt

FROM \${BASE_IMAGE}
COPY --from=first /first.txt /first.txt
RUN printf '%s|%s' "$GREETING" "$STAGE_LOCAL" > /second.txt
ARG GREETING
RUN printf '%s' "$GREETING" > /third.txt
`;
  await withContext({ Dockerfile: dockerfile }, async (dir) => {
    await buildOk(root, dir, [
      "--build-arg",
      "BASE_IMAGE=busybox",
      "--build-arg",
      "ONLY_GLOBAL=cli",
      "-t",
      "t02a",
    ]);
    await buildOk(root, dir, [
      "--build-arg",
      "BASE_IMAGE=busybox",
      "--build-arg",
      "GREETING=hi",
      "-t",
      "t02b",
    ]);
    assertEquals(
      await runIn(root, ["t02a", "cat", "/first.txt", "/second.txt", "/third.txt"]),
      "hello||one|hello",
    );
    assertEquals(await runIn(root, ["t02b", "cat", "/first.txt", "/second.txt", "/third.txt"]), "hi||one|hi");
  });
});

buildTest(
  "build case 04: WORKDIR keeps an existing directory and creates a missing one as USER",
  async (root) => {
    const dockerfile = `FROM busybox
RUN mkdir -p /existing && chown 1000:1000 /existing && chmod 0750 /existing
WORKDIR /existing
RUN stat -c '%u:%g %a' /existing > /tmp/existing.txt
USER 1001:1001
WORKDIR /made/by/user
RUN touch ./probe && stat -c '%u:%g' /made/by/user > ./owner.txt
`;
    await withContext({ Dockerfile: dockerfile }, async (dir) => {
      await buildOk(root, dir, ["-t", "t04"]);
      assertEquals(await runIn(root, ["--user", "0", "t04", "cat", "/tmp/existing.txt"]), "1000:1000 750\n");
      assertEquals(await runIn(root, ["t04", "cat", "/made/by/user/owner.txt"]), "1001:1001\n");
      assertEquals(await runIn(root, ["t04", "pwd"]), "/made/by/user\n");
      assertEquals(await runIn(root, ["t04", "id", "-u"]), "1001\n");
      const config = await ctr(root, ["inspect", "-f", "{{.Config.User}} {{.Config.WorkingDir}}", "t04"]);
      assertEquals(config.stdout.trim(), "1001:1001 /made/by/user");
    });
  },
);

async function mountsUnder(path: string): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  return info.split("\n").map((l) => l.split(" ")[4]).filter((p) => p && p.startsWith(path));
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(d));
    } catch {
      return;
    }
    for (const e of entries) {
      out.push(rel + e.name);
      if (e.isDirectory) await walk(`${d}/${e.name}`, `${rel}${e.name}/`);
    }
  };
  await walk(dir, "");
  return out.sort();
}

buildTest(
  "build: a failing RUN fails with its exit code and step, leaving no containers, mounts or temp dirs",
  async (root) => {
    await withContext({
      // The RUN after the failing one makes the builder hold a spare init when the failure comes.
      Dockerfile:
        "FROM busybox\nRUN --mount=type=tmpfs,target=/scratch echo before > /kept\nRUN echo about to fail && exit 3\nRUN true\n",
    }, async (dir) => {
      const mountsBefore = await mountsUnder("/");
      const child = new Deno.Command(`${REPO}/ctr`, {
        args: ["--root", root, "build", "--progress", "plain", "-t", "fails", dir],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const out = await child.output();
      const r = { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
      // No init of that build outlives it (an init names its parent's pid in its arguments).
      assertEquals(await processesWith(`/proc/${child.pid}/fd/`), []);
      assertEquals(r.code, 3, r.stderr);
      assertStringIncludes(r.stderr, "about to fail");
      assertStringIncludes(
        r.stderr,
        'ctr: Dockerfile:3: process "/bin/sh -c echo about to fail && exit 3" did not complete successfully: exit code: 3',
      );
      assertEquals(await mountsUnder("/"), mountsBefore);
      assertEquals(await listTree(`${root}/build/tmp`), []);
      assertEquals(await listTree(`${root}/snapshots/tmp`), []);
      const ps = await ctr(root, ["ps", "-aq"]);
      assertEquals(ps.stdout, "");
      const images = await ctr(root, ["images", "-q", "fails"]);
      assertEquals(images.stdout, "");
      // The step before the failure is cached: the next attempt starts from it.
      const again = await build(root, dir, ["-t", "fails"]);
      assertEquals(again.code, 3);
      assert(
        /#\d+ \[2\/4\] RUN --mount=type=tmpfs,target=\/scratch echo before > \/kept\n#\d+ CACHED/.test(
          again.stderr,
        ),
      );
    });
  },
);

async function processesWith(token: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
      if (cmd.includes(token)) pids.push(Number(e.name));
    } catch { /* exited */ }
  }
  return pids;
}

buildTest("build: SIGINT cancels a build: exit 130, its RUN container killed, nothing left", async (root) => {
  const token = `cancel-${crypto.randomUUID()}`;
  await withContext(
    { Dockerfile: `FROM busybox\nRUN echo started; sleep 600; echo ${token}\n` },
    async (dir) => {
      const child = new Deno.Command(`${REPO}/ctr`, {
        args: ["--root", root, "build", "--progress", "plain", "-t", "cancelled", dir],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      let log = "";
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      while (!/#\d+ [\d.]+ started/.test(log)) {
        const r = await reader.read();
        if (r.done) break;
        log += r.value;
      }
      assert((await processesWith(token)).length > 0, log);
      child.kill("SIGINT");
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        log += r.value;
      }
      assertEquals((await child.status).code, 130, log);
      assertStringIncludes(log, "ctr: the build was cancelled");
      assertEquals(await processesWith(token), []);
      assertEquals(await listTree(`${root}/build/tmp`), []);
      assertEquals((await ctr(root, ["images", "-q", "cancelled"])).stdout, "");
    },
  );
});
