/**
 * Benchmark: `ctr build` vs `docker build` with BuildKit (Debian's docker.io, an isolated
 * dockerd from `tests/peers/dockerd.sh`) vs `buildah bud`, side by side, on the same
 * Dockerfiles and contexts:
 *
 * - `3-step`: FROM busybox, COPY a file, RUN (the reference shape);
 * - `10-step`: WORKDIR, four COPYs and four RUNs on busybox;
 * - `multi-stage`: the multi-stage example — a Debian stage generates pages, a busybox
 *   stage gets only the result.
 *
 * Each is built cold (`--no-cache`; base images present locally for all three tools) and
 * cached (nothing changed since the last build), several times alternating between the
 * tools, all as new processes whose wall time includes start-up. Every tool gets host
 * networking for RUN (`--network host`): the isolated dockerd has no bridge, and host is
 * ctr's default. buildah uses runc (crun refuses this machine's hybrid cgroups) and
 * `--layers` so that it caches at all. Prints medians and the ratios; goals: cold ≤ 1.0×
 * BuildKit, cached ≤ 0.5× BuildKit.
 *
 *     deno run -A --unstable-worker-options bench/build.ts [--runs N]
 *
 * @module
 */
import { fixture } from "../tests/helpers.ts";
import { record } from "./report.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const runsArg = Deno.args.indexOf("--runs");
const RUNS = runsArg !== -1 ? Number(Deno.args[runsArg + 1]) : 5;
const dec = new TextDecoder();

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const t = performance.now();
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const ms = performance.now() - t;
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${dec.decode(out.stderr)}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [p, text] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${p}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(`${dir}/${p}`, text);
  }
}

const CASES: Record<string, Record<string, string>> = {
  "3-step": {
    Dockerfile: "FROM busybox\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt > /copy.txt\n",
    "hello.txt": "hello\n",
  },
  "10-step": {
    Dockerfile: `FROM busybox
ENV APP=/app
WORKDIR /app
COPY f1.txt .
RUN cat f1.txt > out1
COPY f2.txt f3.txt ./
RUN cat f2.txt f3.txt > out2
COPY f4.txt .
RUN cat f4.txt > out4
COPY f5.txt .
RUN ls -l > listing
CMD ["cat", "listing"]
`,
    "f1.txt": "one\n",
    "f2.txt": "two\n",
    "f3.txt": "three\n",
    "f4.txt": "four\n",
    "f5.txt": "five\n",
  },
  "multi-stage": {
    Dockerfile: `FROM debian AS generate
WORKDIR /src
COPY pages/ ./pages/
RUN mkdir -p /out && for p in pages/*.txt; do n=$(basename "$p" .txt); \\
      { echo "<h1>$n</h1><pre>"; sed -e 's/&/\\&amp;/g' -e 's/</\\&lt;/g' "$p"; echo "</pre>"; } > "/out/$n.html"; done && \\
    (cd /out && sha256sum *.html > SHA256SUMS)
FROM busybox
COPY --from=generate /out/ /www/
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
`,
    "pages/about.txt": "ctr builds images from Dockerfiles.\n",
    "pages/layers.txt": "Layers are content-addressed & shared.\n<tags> are escaped.\n",
  },
};

interface Tool {
  name: string;
  build(ctx: string, tag: string, noCache: boolean): Promise<number>;
}

if (import.meta.main) {
  const work = await Deno.makeTempDir({ prefix: "ctr-bench-build-" });
  const dockerDir = `${work}/dockerd`;
  let dockerUp = false;
  try {
    const busybox = await fixture("busybox");
    const debian = await fixture("debian");
    // ctr
    const root = `${work}/ctr-root`;
    await run(`${REPO}/ctr`, ["--root", root, "import", busybox, "busybox"]);
    await run(`${REPO}/ctr`, ["--root", root, "import", debian, "debian"]);
    const tools: Tool[] = [{
      name: "ctr",
      build: (ctx, tag, noCache) =>
        run(`${REPO}/ctr`, [
          "--root",
          root,
          "build",
          "-q",
          ...(noCache ? ["--no-cache"] : []),
          "-t",
          tag,
          ctx,
        ]),
    }];
    // docker build with BuildKit, isolated engine
    try {
      const out = await new Deno.Command("bash", {
        args: [`${REPO}/tests/peers/dockerd.sh`, "start", dockerDir],
      })
        .output();
      if (!out.success) throw new Error(dec.decode(out.stderr));
      dockerUp = true;
      const env = { DOCKER_HOST: `unix://${dockerDir}/docker.sock`, DOCKER_BUILDKIT: "1" };
      await run("/usr/bin/docker", ["import", busybox, "busybox:latest"], env);
      await run("/usr/bin/docker", ["import", debian, "debian:latest"], env);
      tools.push({
        name: "buildkit",
        build: (ctx, tag, noCache) =>
          run("/usr/bin/docker", [
            "build",
            "-q",
            "--network",
            "host",
            ...(noCache ? ["--no-cache"] : []),
            "-t",
            tag,
            ctx,
          ], env),
      });
    } catch (e) {
      console.log(`docker build unavailable: ${(e as Error).message.split("\n")[0]}`);
    }
    // buildah, its own storage
    try {
      const store = [
        "--root",
        `${work}/buildah/root`,
        "--runroot",
        `${work}/buildah/run`,
        "--storage-driver",
        "overlay",
      ];
      for (const name of ["busybox", "debian"]) {
        const oci = `${work}/${name}.oci.tar`;
        await run(`${REPO}/ctr`, ["--root", root, "save", "--format", "oci", "-o", oci, name]);
        await run("buildah", [...store, "pull", "-q", `oci-archive:${oci}`]);
        const id = dec.decode(
          (await new Deno.Command("buildah", {
            args: [...store, "images", "-q", "--noheading"],
            stdout: "piped",
          })
            .output()).stdout,
        ).trim().split("\n")[0];
        await run("buildah", [...store, "tag", id, name]);
      }
      tools.push({
        name: "buildah",
        build: (ctx, tag, noCache) =>
          run("buildah", [
            ...store,
            "bud",
            "-q",
            "--runtime",
            "/usr/sbin/runc",
            "--network",
            "host",
            "--layers",
            ...(noCache ? ["--no-cache"] : []),
            "-t",
            tag,
            ctx,
          ]),
      });
    } catch (e) {
      console.log(`buildah unavailable: ${(e as Error).message.split("\n")[0]}`);
    }

    const rows: string[][] = [];
    for (const [name, files] of Object.entries(CASES)) {
      const ctx = `${work}/ctx-${name}`;
      await writeTree(ctx, files);
      for (const mode of ["cold", "cached"] as const) {
        const times = new Map<string, number[]>(tools.map((t) => [t.name, []]));
        // Warm up: the cached runs need one build first; the cold ones pay nothing for it.
        for (const t of tools) await t.build(ctx, `bench-${name}`, false);
        for (let i = 0; i < RUNS; i++) {
          for (const t of tools) {
            times.get(t.name)!.push(await t.build(ctx, `bench-${name}`, mode === "cold"));
          }
        }
        const ms = (n: string) => times.has(n) ? median(times.get(n)!) : NaN;
        const ratio = (n: string) => (times.has(n) ? (ms("ctr") / ms(n)).toFixed(2) + "×" : "-");
        for (const peer of ["buildkit", "buildah"].filter((n) => times.has(n))) {
          record({
            figure: `build ${name} (${mode})`,
            unit: "ms",
            ctr: ms("ctr"),
            peer: ms(peer),
            peerName: peer === "buildkit" ? "docker build (BuildKit)" : "buildah bud",
            goal: peer === "buildkit" ? { ratio: mode === "cold" ? 1 : 0.5 } : undefined,
            better: "lower",
            note: `median of ${RUNS}`,
          });
        }
        rows.push([
          name,
          mode,
          `${ms("ctr").toFixed(0)} ms`,
          times.has("buildkit") ? `${ms("buildkit").toFixed(0)} ms` : "-",
          ratio("buildkit"),
          times.has("buildah") ? `${ms("buildah").toFixed(0)} ms` : "-",
          ratio("buildah"),
        ]);
      }
    }
    const header = ["dockerfile", "mode", "ctr", "buildkit", "ctr/buildkit", "buildah", "ctr/buildah"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
    console.log(`median of ${RUNS} runs each (goals: cold ≤ 1.0× buildkit, cached ≤ 0.5× buildkit)`);
    console.log(line(header));
    for (const r of rows) console.log(line(r));
  } finally {
    if (dockerUp) {
      await new Deno.Command("bash", { args: [`${REPO}/tests/peers/dockerd.sh`, "stop", dockerDir] })
        .output();
    }
    const { cleanupRoot } = await import("../tests/helpers.ts");
    await cleanupRoot(`${work}/ctr-root`);
    await new Deno.Command("bash", {
      args: [
        "-c",
        `buildah --root ${work}/buildah/root --runroot ${work}/buildah/run rm -a >/dev/null 2>&1; ` +
        `umount -R ${work}/buildah/root/overlay 2>/dev/null; true`,
      ],
    }).output();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
