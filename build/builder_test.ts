import { assert, assertEquals, assertNotEquals, assertRejects } from "../tests/assert.ts";
import { cleanupRoot, fixture, IS_ROOT } from "../tests/helpers.ts";
import { ImageStore } from "../image/image_store.ts";
import { MediaType } from "../image/oci.ts";
import { type BuildEvent, buildImage, type BuildRequest } from "./builder.ts";
import { loadContext } from "./context.ts";
import { DockerfileParseError } from "./dockerfile/parser.ts";

/** Puts the busybox fixture into a fresh root as image `bb:test` (one uncompressed layer). */
async function rootWithBusybox(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "ctr-build-root-" });
  const images = ImageStore.open(root);
  try {
    const tar = await Deno.readFile(await fixture("busybox"));
    const layer = await images.content.put(tar);
    const config = {
      architecture: "amd64",
      os: "linux",
      config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh"] },
      rootfs: { type: "layers", diff_ids: [layer.digest] },
      history: [{ created_by: "fixture" }],
    };
    const c = await images.content.put(new TextEncoder().encode(JSON.stringify(config)));
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: c.digest, size: c.size },
      layers: [{ mediaType: MediaType.OCI_LAYER, digest: layer.digest, size: layer.size }],
    };
    const m = await images.content.put(new TextEncoder().encode(JSON.stringify(manifest)));
    await images.addImage(m.digest);
    images.tag("bb:test", m.digest);
  } finally {
    images.close();
  }
  return root;
}

const DOCKERFILE = `# syntax=docker/dockerfile:1
ARG BASE=bb:test
FROM \${BASE}
ARG WHO=world
LABEL who=$WHO
COPY --chown=1000:1000 app/ /srv/app/
COPY <<EOF /etc/greeting
hello $WHO
EOF
USER 1001:1001
WORKDIR /made/by/user
COPY conf.txt ./
ENV MODE=prod
CMD ["sh", "-c", "cat /etc/greeting"]
`;

async function makeContext(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-build-ctx-" });
  await Deno.mkdir(`${dir}/app/logs`, { recursive: true });
  await Deno.writeTextFile(`${dir}/app/main.sh`, "echo main\n");
  await Deno.writeTextFile(`${dir}/app/logs/a.log`, "x");
  await Deno.writeTextFile(`${dir}/app/logs/keep.log`, "keep");
  await Deno.writeTextFile(`${dir}/conf.txt`, "conf v1\n");
  await Deno.writeTextFile(`${dir}/.dockerignore`, "**/*.log\n!app/logs/keep.log\n");
  await Deno.writeTextFile(`${dir}/Dockerfile`, DOCKERFILE);
  return dir;
}

async function build(root: string, ctx: string, extra: Partial<BuildRequest> = {}) {
  const events: BuildEvent[] = [];
  const res = await buildImage({
    root,
    context: await loadContext(ctx, "Dockerfile"),
    dockerfile: { text: await Deno.readTextFile(`${ctx}/Dockerfile`), name: "Dockerfile" },
    buildArgs: new Map(),
    tags: ["built:1"],
    onEvent: (e) => events.push(e),
    ...extra,
  });
  return { res, events };
}

/** Ids of layer steps (COPY/ADD/RUN/WORKDIR) and how each ended. */
function layerSteps(events: BuildEvent[]): { label: string; end: string }[] {
  const out = new Map<number, { label: string; end: string }>();
  for (const e of events) {
    if (e.type === "step" && /\] (COPY|ADD|RUN|WORKDIR) /.test(e.label)) {
      out.set(e.id, { label: e.label, end: "" });
    } else if ((e.type === "cached" || e.type === "done" || e.type === "error") && out.has(e.id)) {
      out.get(e.id)!.end = e.type;
    }
  }
  return [...out.values()];
}

async function layerListing(root: string, digest: string): Promise<string> {
  const out = await new Deno.Command("tar", {
    args: ["--numeric-owner", "-tvzf", `${root}/blobs/sha256/${digest.slice(7)}`],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean)
    .map((l) => l.split(/\s+/)).map((f) => `${f[0]} ${f[1]} ${f[5]}`).join("\n");
}

Deno.test({
  name:
    "buildImage: COPY, heredoc, .dockerignore exceptions, --chown, WORKDIR as USER; cache and reproducibility (root)",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  fn: async () => {
    const root = await rootWithBusybox();
    const root2 = await rootWithBusybox();
    const ctx = await makeContext();
    try {
      const first = await build(root, ctx);
      const images = ImageStore.open(root);
      const img = await images.load("built:1");
      images.close();
      assertEquals(img.config.config?.Labels, { who: "world" });
      assertEquals(img.config.config?.User, "1001:1001");
      assertEquals(img.config.config?.WorkingDir, "/made/by/user");
      assertEquals(img.config.config?.Cmd, ["sh", "-c", "cat /etc/greeting"]);
      assertEquals(img.config.created, "1970-01-01T00:00:00Z");
      assertEquals(img.manifest.layers.length, 1 + 4);
      assertEquals(img.config.rootfs.diff_ids.length, 5);
      const copyApp = await layerListing(root, img.manifest.layers[1].digest);
      assertEquals(
        copyApp,
        [
          "drwxr-xr-x 1000/1000 srv/", // created by COPY --chown, like mkdir -p as that user
          "drwxr-xr-x 1000/1000 srv/app/",
          "drwxr-xr-x 1000/1000 srv/app/logs/",
          "-rw-r--r-- 1000/1000 srv/app/logs/keep.log",
          "-rw-r--r-- 1000/1000 srv/app/main.sh",
        ].join("\n"),
      );
      assertEquals(
        await layerListing(root, img.manifest.layers[2].digest),
        "drwxr-xr-x 0/0 etc/\n-rw-r--r-- 0/0 etc/greeting",
      );
      const wd = await layerListing(root, img.manifest.layers[3].digest);
      assertEquals(
        wd,
        "drwxr-xr-x 1001/1001 made/\ndrwxr-xr-x 1001/1001 made/by/\ndrwxr-xr-x 1001/1001 made/by/user/",
      );
      assertEquals(
        img.config.history!.slice(1).map((h) => `${h.empty_layer ? "-" : "L"} ${h.created_by}`),
        [
          "- ARG WHO=world",
          "- LABEL who=world",
          "L COPY --chown=1000:1000 app/ /srv/app/ # buildkit",
          "L COPY <<EOF /etc/greeting # buildkit",
          "- USER 1001:1001",
          "L WORKDIR /made/by/user",
          "L COPY conf.txt ./ # buildkit",
          "- ENV MODE=prod",
          '- CMD ["sh" "-c" "cat /etc/greeting"]',
        ],
      );
      assertEquals(layerSteps(first.events).map((s) => s.end), ["done", "done", "done", "done"]);

      // Unchanged: every step from the cache, same digest.
      const second = await build(root, ctx);
      assertEquals(second.res.digest, first.res.digest);
      assertEquals(layerSteps(second.events).map((s) => s.end), ["cached", "cached", "cached", "cached"]);

      // Another empty root: the same digest.
      const other = await build(root2, ctx);
      assertEquals(other.res.digest, first.res.digest);

      // One copied file changed: only that COPY (the last layer step) runs again.
      await Deno.writeTextFile(`${ctx}/conf.txt`, "conf v2\n");
      const third = await build(root, ctx);
      assertNotEquals(third.res.digest, first.res.digest);
      const steps = layerSteps(third.events);
      assertEquals(steps.map((s) => s.end), ["cached", "cached", "cached", "done"]);
      assert(steps[3].label.endsWith("[5/5] COPY conf.txt ./"), steps[3].label);
      const images3 = ImageStore.open(root);
      const img3 = await images3.load("built:1");
      images3.close();
      assertEquals(img3.manifest.layers.slice(0, 4), img.manifest.layers.slice(0, 4));
      assertNotEquals(img3.manifest.layers[4], img.manifest.layers[4]);
    } finally {
      await Deno.remove(ctx, { recursive: true });
      await cleanupRoot(root);
      await cleanupRoot(root2);
    }
  },
});

Deno.test({
  name: "buildImage: a malformed Dockerfile fails with file:line and nothing is tagged (root)",
  ignore: !IS_ROOT,
  fn: async () => {
    const root = await rootWithBusybox();
    const ctx = await makeContext();
    try {
      await Deno.writeTextFile(`${ctx}/Dockerfile`, "FROM bb:test\nCOPY a b\n\n\n\n\nFORM x\n");
      const e = await assertRejects(() => build(root, ctx), DockerfileParseError);
      assertEquals(e.message, "Dockerfile:7: unknown instruction: FORM (did you mean FROM?)");
      const images = ImageStore.open(root);
      assertEquals(images.list().length, 1);
      images.close();
    } finally {
      await Deno.remove(ctx, { recursive: true });
      await cleanupRoot(root);
    }
  },
});
