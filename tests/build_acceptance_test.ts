/**
 * Acceptance of `ctr build`: real builds on the busybox and Debian fixtures (imported with
 * `ctr import`), each image run under `ctr run`, its `ctr save --format oci` output accepted
 * by `skopeo inspect oci-archive:`; the example Dockerfiles in `examples/`; the cache, reproducibility, stdin contexts and error reporting.
 */
import { assert, assertEquals, assertMatch, assertNotEquals, assertStringIncludes } from "./assert.ts";
import { ctr, REPO, withRoot } from "./helpers.ts";
import { build, buildOk, buildTest, runIn, stepResults, withContext } from "./build_helpers.ts";

const FIXTURES = `${REPO}/examples`;

/** `ctr save --format oci` then `skopeo inspect oci-archive:`; returns skopeo's JSON. */
async function skopeoInspect(root: string, image: string): Promise<{ Layers: string[]; Digest: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-build-save-" });
  try {
    const saved = await ctr(root, ["save", "--format", "oci", "-o", `${dir}/image.tar`, image]);
    assertEquals(saved.code, 0, saved.stderr);
    const out = await new Deno.Command("skopeo", {
      args: ["inspect", `oci-archive:${dir}/image.tar`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function layersOf(root: string, image: string): Promise<string[]> {
  const r = await ctr(root, ["inspect", "-f", "{{json .RootFS.Layers}}", image]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Publishes container port `port` on an ephemeral loopback port; returns `host:port`. */
async function published(root: string, name: string, port: number): Promise<number> {
  const r = await ctr(root, ["port", name, String(port)]);
  assertEquals(r.code, 0, r.stderr);
  return Number(r.stdout.trim().split("\n")[0].split(":").pop());
}

async function readLine(port: number, request = ""): Promise<string> {
  for (let attempt = 0;; attempt++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        if (request) await conn.write(new TextEncoder().encode(request));
        const chunks: Uint8Array[] = [];
        const buf = new Uint8Array(4096);
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          chunks.push(buf.slice(0, n));
        }
        const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
        if (text) return text;
      } finally {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    } catch (e) {
      if (attempt > 50) throw e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

buildTest("build: the shell-script service example on busybox serves under ctr run", async (root) => {
  await buildOk(root, `${FIXTURES}/shell-service`, ["-t", "shell-service"]);
  const run = await ctr(root, ["run", "-d", "--name", "svc", "-p", "127.0.0.1::7000", "shell-service"]);
  assertEquals(run.code, 0, run.stderr);
  try {
    const port = await published(root, "svc", 7000);
    assertMatch(await readLine(port), /^greeter up \d+ seconds on [0-9a-f]{12}\n$/);
    const beat = await ctr(root, ["exec", "svc", "cat", "/run/greeter/heartbeat"]);
    assertMatch(beat.stdout, /^\d+\n$/);
  } finally {
    await ctr(root, ["rm", "-f", "svc"]);
  }
  const cfg = await ctr(root, [
    "inspect",
    "-f",
    "{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.StopSignal}} {{json .Config.ExposedPorts}}",
    "shell-service",
  ]);
  assertEquals(cfg.stdout.trim(), '1000:1000 ["/usr/local/bin/service.sh"] ["7000"] SIGTERM {"7000/tcp":{}}');
  const skopeo = await skopeoInspect(root, "shell-service");
  assertEquals(skopeo.Layers.length, (await layersOf(root, "shell-service")).length);
});

buildTest("build: the static-site example serves its page with busybox httpd", async (root) => {
  await buildOk(root, `${FIXTURES}/static-site`, ["-t", "static-site"]);
  const run = await ctr(root, ["run", "-d", "--name", "web", "-p", "127.0.0.1::8080", "static-site"]);
  assertEquals(run.code, 0, run.stderr);
  try {
    const port = await published(root, "web", 8080);
    const reply = await readLine(port, "GET / HTTP/1.0\r\n\r\n");
    assertStringIncludes(reply, "200 OK");
    assertStringIncludes(reply, "Served from a ctr container");
  } finally {
    await ctr(root, ["rm", "-f", "web"]);
  }
  assertEquals(await runIn(root, ["static-site", "stat", "-c", "%u", "/www/index.html"]), "8080\n");
  await skopeoInspect(root, "static-site");
});

buildTest(
  "build: Debian builds — multi-stage into busybox, heredocs/ARG/.dockerignore/--chown, the hello app",
  async (root) => {
    // Multi-stage: only the generated files reach the busybox image.
    await buildOk(root, `${FIXTURES}/multi-stage`, ["-t", "report"]);
    const busyboxLayers = await layersOf(root, "busybox");
    const reportLayers = await layersOf(root, "report");
    assertEquals(reportLayers.length, busyboxLayers.length + 1);
    assertEquals(reportLayers.slice(0, busyboxLayers.length), busyboxLayers);
    assertEquals(
      await runIn(root, ["report", "ls", "/www"]),
      "SHA256SUMS\nabout.html\nindex.html\nlayers.html\n",
    );
    assertEquals(
      await runIn(root, ["report", "sh", "-c", "cd /www && sha256sum -c SHA256SUMS"]),
      "about.html: OK\nindex.html: OK\nlayers.html: OK\n",
    );
    assertStringIncludes(await runIn(root, ["report", "cat", "/www/layers.html"]), "&lt;tags> are escaped.");
    await runIn(root, ["report", "test", "-e", "/usr/bin/apt-get"], 1);
    await skopeoInspect(root, "report");

    // Heredocs, ARG before FROM, .dockerignore exceptions, --chown with names from /etc/passwd.
    const dockerfile = `# syntax=docker/dockerfile:1
ARG BASE=debian
ARG APP_USER=app
FROM \${BASE}
ARG APP_USER
RUN useradd --uid 1500 --user-group --create-home \${APP_USER}
COPY --chown=\${APP_USER}:\${APP_USER} app/ /home/app/app/
COPY <<EOF /etc/app.conf
user=\${APP_USER}
EOF
RUN <<'EOF' bash
set -euo pipefail
echo "bash \${BASH_VERSINFO[0]} ran this" > /heredoc.txt
EOF
RUN <<'SCRIPT'
#!/bin/sh
echo "a script with a shebang, run as $(id -un) with HOME=\$HOME" > /script.txt
SCRIPT
USER \${APP_USER}
WORKDIR /home/app/app
CMD ["sh", "-c", "cat /etc/app.conf"]
`;
    await withContext({
      Dockerfile: dockerfile,
      ".dockerignore": "app/*.log\n!app/keep.log\n**/secret*\n",
      "app/run.sh": "echo run\n",
      "app/debug.log": "noise\n",
      "app/keep.log": "kept\n",
      "app/conf/secret.key": "hidden\n",
      "app/conf/settings.ini": "a=1\n",
    }, async (dir) => {
      await buildOk(root, dir, ["-t", "features"]);
      assertEquals(
        await runIn(root, ["features", "sh", "-c", "find . -printf '%u:%g %p\\n' | sort"]),
        [
          "app:app .",
          "app:app ./conf",
          "app:app ./conf/settings.ini",
          "app:app ./keep.log",
          "app:app ./run.sh",
          "",
        ]
          .join("\n"),
      );
      assertEquals(await runIn(root, ["features"]), "user=app\n");
      assertMatch(await runIn(root, ["features", "cat", "/heredoc.txt"]), /^bash \d+ ran this\n$/);
      assertEquals(
        await runIn(root, ["features", "cat", "/script.txt"]),
        "a script with a shebang, run as root with HOME=/root\n",
      );
      assertEquals(await runIn(root, ["features", "id", "-u"]), "1500\n");
      await runIn(root, ["features", "test", "-e", "/dev/pipes"], 1);
      await skopeoInspect(root, "features");
    });

    // The hello app: an HTTP service in Perl, run with a memory limit.
    await buildOk(root, `${FIXTURES}/hello-app`, ["-t", "hello-app"]);
    const run = await ctr(root, [
      "run",
      "-d",
      "--name",
      "hello",
      "--memory",
      "64m",
      "-p",
      "127.0.0.1::8080",
      "hello-app",
    ]);
    assertEquals(run.code, 0, run.stderr);
    try {
      const port = await published(root, "hello", 8080);
      const reply = await readLine(port, "GET /probe HTTP/1.0\r\n\r\n");
      assertMatch(reply, /Hello from ctr! path=\/probe host=[0-9a-f]{12} memory\.limit=67108864/);
    } finally {
      await ctr(root, ["rm", "-f", "hello"]);
    }
    await skopeoInspect(root, "hello-app");
  },
  { debian: true },
);

const TEN_STEPS = `FROM busybox
ENV APP=/app
WORKDIR /app
COPY f1.txt .
RUN cat f1.txt > out1
COPY f2.txt f3.txt ./
RUN cat f2.txt f3.txt > out2
COPY f4.txt .
RUN cat f4.txt > out4
COPY f5.txt .
RUN ls > listing
CMD ["cat", "listing"]
`;

buildTest(
  "build: an unchanged rebuild is all cache hits; touching one file reruns from its COPY on",
  async (root) => {
    await withContext({
      Dockerfile: TEN_STEPS,
      "f1.txt": "one\n",
      "f2.txt": "two\n",
      "f3.txt": "three\n",
      "f4.txt": "four\n",
      "f5.txt": "five\n",
    }, async (dir) => {
      const first = await buildOk(root, dir, ["-t", "ten"]);
      assert(stepResults(first.stderr).every((s) => s.result === "DONE"), first.stderr);
      const layers1 = await layersOf(root, "ten");

      const t0 = performance.now();
      const second = await buildOk(root, dir, ["-t", "ten"]);
      const ms = performance.now() - t0;
      console.error(`    (cached rebuild of a 10-step Dockerfile: ${ms.toFixed(0)} ms)`);
      const steps = stepResults(second.stderr);
      assertEquals(steps.length, 9);
      assert(steps.every((s) => s.result === "CACHED"), second.stderr);
      assertEquals(await layersOf(root, "ten"), layers1);

      // Same bytes again, new mtime: still cached (content, not timestamps, keys the cache).
      await Deno.writeTextFile(`${dir}/f4.txt`, "four\n");
      assert(
        stepResults((await buildOk(root, dir, ["-t", "ten"])).stderr).every((s) => s.result === "CACHED"),
      );

      await Deno.writeTextFile(`${dir}/f4.txt`, "four, changed\n");
      const third = await buildOk(root, dir, ["-t", "ten"]);
      assertEquals(stepResults(third.stderr).map((s) => `${s.result} ${s.step}`), [
        "CACHED WORKDIR /app",
        "CACHED COPY f1.txt .",
        "CACHED RUN cat f1.txt > out1",
        "CACHED COPY f2.txt f3.txt ./",
        "CACHED RUN cat f2.txt f3.txt > out2",
        "DONE COPY f4.txt .",
        "DONE RUN cat f4.txt > out4",
        "DONE COPY f5.txt .",
        "DONE RUN ls > listing",
      ]);
      const layers3 = await layersOf(root, "ten");
      const base = layers1.length - 9;
      assertEquals(layers3.slice(0, base + 5), layers1.slice(0, base + 5));
      assertNotEquals(layers3[base + 5], layers1[base + 5]); // COPY f4.txt
      assertNotEquals(layers3[base + 6], layers1[base + 6]); // RUN cat f4.txt
      assertEquals(await runIn(root, ["ten", "cat", "/app/out4"]), "four, changed\n");

      const nocache = await buildOk(root, dir, ["--no-cache", "-t", "ten"]);
      assert(stepResults(nocache.stderr).every((s) => s.result === "DONE"));
      assertEquals(await layersOf(root, "ten"), layers3);
    });
  },
);

buildTest("build: two empty state roots build the same image digest", async (root) => {
  const dockerfile = `FROM busybox
WORKDIR /srv
COPY --chmod=0750 tool.sh ./
RUN mkdir -p /var/data && echo state > /var/data/state && ln -s /var/data/state /srv/state && \\
    hostname > /srv/hostname && rm -rf /etc/motd
COPY <<EOF /srv/notes.txt
notes
EOF
USER 1234
CMD ["/srv/tool.sh"]
`;
  await withContext({ Dockerfile: dockerfile, "tool.sh": "#!/bin/sh\necho tool\n" }, async (dir) => {
    const a = await buildOk(root, dir, ["-q", "-t", "repro"]);
    await withRoot(async (other) => {
      // The same base image (an import records its own time, so it is carried over, not re-imported).
      const saved = `${dir}/busybox.tar`;
      assertEquals((await ctr(root, ["save", "-o", saved, "busybox"])).code, 0);
      assertEquals((await ctr(other, ["load", "-q", "-i", saved])).code, 0);
      await Deno.remove(saved);
      const b = await buildOk(other, dir, ["-q", "-t", "repro"]);
      assertEquals(b.stdout, a.stdout);
      const da = await ctr(root, ["images", "--digests", "--format", "{{.Digest}}", "repro"]);
      const db = await ctr(other, ["images", "--digests", "--format", "{{.Digest}}", "repro"]);
      assertMatch(da.stdout, /^sha256:[0-9a-f]{64}\n$/);
      assertEquals(db.stdout, da.stdout);
    });
    assertEquals(await runIn(root, ["repro"]), "tool\n");
  });
});

buildTest(
  "build: a malformed Dockerfile fails with file:line and the problem, exit 1, nothing tagged",
  async (root) => {
    await withContext({ Dockerfile: "FROM busybox\nRUN true\n\nCOPY\n", "x": "" }, async (dir) => {
      const r = await build(root, dir, ["-t", "bad"]);
      assertEquals(r.code, 1);
      assertEquals(
        r.stderr.trim().split("\n").pop(),
        "ctr: Dockerfile:4: COPY requires at least two arguments, but only one was provided. Destination could not be determined",
      );
      await Deno.writeTextFile(`${dir}/Dockerfile.dev`, "FROM busybox\nRUN true\nFORM x\n");
      const r2 = await build(root, dir, ["-f", `${dir}/Dockerfile.dev`, "-t", "bad"]);
      assertEquals(r2.code, 1);
      assertStringIncludes(r2.stderr, "ctr: Dockerfile.dev:3: unknown instruction: FORM");
      await Deno.writeTextFile(`${dir}/Dockerfile`, "FROM busybox\nCOPY missing.txt /\n");
      const r3 = await build(root, dir, ["-t", "bad"]);
      assertEquals(r3.code, 1);
      assertStringIncludes(r3.stderr, 'ctr: Dockerfile:2: COPY missing.txt /: "/missing.txt": not found');
      const r4 = await build(root, dir, ["-t", "Bad:Tag!"]);
      assertEquals(r4.code, 125);
      assertEquals((await ctr(root, ["images", "-q", "bad"])).stdout, "");
    });
  },
);

buildTest(
  "build: the context from stdin — a tar with -f, a Dockerfile alone, -f - with a directory",
  async (root) => {
    await withContext({
      "sub/Dockerfile.alt": "FROM busybox\nCOPY data.txt /data.txt\n",
      "data.txt": "tarred\n",
    }, async (dir) => {
      const tar = await new Deno.Command("tar", { args: ["-czf", "-", "-C", dir, "."], stdout: "piped" })
        .output();
      const r = await build(root, "-", ["-f", "sub/Dockerfile.alt", "-t", "fromtar"], tar.stdout);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await runIn(root, ["fromtar", "cat", "/data.txt"]), "tarred\n");
      const r2 = await build(root, "-", ["-t", "alone"], "FROM busybox\nRUN echo alone > /alone\n");
      assertEquals(r2.code, 0, r2.stderr);
      assertEquals(await runIn(root, ["alone", "cat", "/alone"]), "alone\n");
      const r3 = await build(root, dir, ["-f", "-", "-t", "dashf"], "FROM busybox\nCOPY data.txt /d\n");
      assertEquals(r3.code, 0, r3.stderr);
      assertEquals(await runIn(root, ["dashf", "cat", "/d"]), "tarred\n");
    });
  },
);

buildTest("build: -q, --iidfile, --label, --target, --compression zstd", async (root) => {
  const dockerfile =
    "FROM busybox AS one\nRUN echo one > /one\nFROM one AS two\nRUN echo two > /two\nFROM busybox\nRUN false\n";
  await withContext({ Dockerfile: dockerfile }, async (dir) => {
    const r = await ctr(root, [
      "build",
      "-q",
      "--target",
      "two",
      "--label",
      "team=build",
      "--compression",
      "zstd",
      "--iidfile",
      `${dir}/iid`,
      "-t",
      "targeted",
      dir,
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assertEquals(r.stderr, "");
    assertEquals(await Deno.readTextFile(`${dir}/iid`), r.stdout.trim());
    assertEquals((await ctr(root, ["inspect", "-f", "{{.Id}}", "targeted"])).stdout.trim(), r.stdout.trim());
    assertEquals(await runIn(root, ["targeted", "cat", "/one", "/two"]), "one\ntwo\n");
    assertEquals(
      (await ctr(root, ["inspect", "-f", '{{index .Config.Labels "team"}}', "targeted"])).stdout,
      "build\n",
    );
    const oci = await skopeoInspect(root, "targeted");
    assert(oci.Layers.length >= 3);
    const digest = (await ctr(root, ["images", "--digests", "--format", "{{.Digest}}", "targeted"])).stdout
      .trim();
    const manifest = JSON.parse(await Deno.readTextFile(`${root}/blobs/sha256/${digest.slice(7)}`));
    const types = manifest.layers.map((l: { mediaType: string }) => l.mediaType);
    assertEquals(types.slice(-2), [
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.v1.tar+zstd",
    ]);
  });
});
