import { assertEquals } from "../tests/assert.ts";
import { IS_ROOT } from "../tests/helpers.ts";
import { loadContext } from "./context.ts";
import { planCopy } from "./copy_plan.ts";
import { EMPTY_LOWER, overlayLowerView, writeCopyItems, writeInlineFiles } from "./copy_writer.ts";

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "ctr-build-test-" });
}

async function listTree(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  const names: string[] = [];
  for await (const e of Deno.readDir(rel ? `${dir}/${rel}` : dir)) names.push(e.name);
  for (const name of names.sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const info = await Deno.lstat(`${dir}/${p}`);
    const mode = ((info.mode ?? 0) & 0o7777).toString(8);
    const kind = info.isDirectory ? "d" : info.isSymlink ? "l" : "f";
    out.push(`${kind} ${p} ${mode} ${info.uid}:${info.gid}`);
    if (info.isDirectory) out.push(...await listTree(dir, p));
  }
  return out;
}

Deno.test("loadContext applies .dockerignore with exceptions and the Dockerfile-specific ignore file", async () => {
  const ctx = await tempDir();
  try {
    await Deno.mkdir(`${ctx}/docs/sub`, { recursive: true });
    await Deno.mkdir(`${ctx}/node_modules/x`, { recursive: true });
    for (
      const f of ["a.txt", "b.log", "keep.log", "docs/README.md", "docs/sub/x.md", "node_modules/x/i.js"]
    ) {
      await Deno.writeTextFile(`${ctx}/${f}`, f);
    }
    await Deno.writeTextFile(
      `${ctx}/.dockerignore`,
      "*.log\n!keep.log\nnode_modules\ndocs\n!docs/README.md\n",
    );
    const c = await loadContext(ctx, "Dockerfile");
    const paths = (dir: string): string[] =>
      c.tree.children(dir).flatMap((e) => e.type === "dir" ? [e.path, ...paths(e.path)] : [e.path]);
    assertEquals(paths(""), [".dockerignore", "a.txt", "docs", "docs/README.md", "keep.log"]);
    assertEquals(c.tree.get("a.txt")?.uid, 0);
    await Deno.writeTextFile(`${ctx}/Dockerfile.dockerignore`, "a.txt\n");
    const d = await loadContext(ctx, "Dockerfile");
    assertEquals(d.tree.get("a.txt"), undefined);
    assertEquals(d.tree.get("b.log")?.type, "file");
    assertEquals(await d.tree.digest("b.log"), "sha256:" + (await sha256("b.log")));
  } finally {
    await Deno.remove(ctx, { recursive: true });
  }
});

async function sha256(s: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name: "writeCopyItems: contents of directories, --chown, --chmod, existing parents keep their owner (root)",
  ignore: !IS_ROOT,
  fn: async () => {
    const ctx = await tempDir();
    const lower = await tempDir();
    const layer = await tempDir();
    try {
      await Deno.mkdir(`${ctx}/app/bin`, { recursive: true });
      await Deno.writeTextFile(`${ctx}/app/main.sh`, "echo hi\n");
      await Deno.chmod(`${ctx}/app/main.sh`, 0o755);
      await Deno.writeTextFile(`${ctx}/app/bin/tool`, "x");
      await Deno.symlink("main.sh", `${ctx}/app/link`);
      await Deno.mkdir(`${lower}/home/app`, { recursive: true });
      await Deno.chown(`${lower}/home/app`, 1000, 1000);
      await Deno.chmod(`${lower}/home/app`, 0o750);
      const c = await loadContext(ctx);
      const items = planCopy(c.tree, ["app"], "/home/app/srv/", { workdir: "/" });
      await writeCopyItems(layer, items, c.tree, {
        owner: { uid: 1001, gid: 1002 },
        lower: overlayLowerView([lower]),
        createdMtimeMs: 0,
      });
      assertEquals(await listTree(layer), [
        "d home 755 0:0",
        "d home/app 750 1000:1000",
        "d home/app/srv 755 1001:1002",
        "d home/app/srv/bin 755 1001:1002",
        "f home/app/srv/bin/tool 644 1001:1002",
        "l home/app/srv/link 777 1001:1002",
        "f home/app/srv/main.sh 755 1001:1002",
      ]);
      const layer2 = await tempDir();
      const one = planCopy(c.tree, ["app/bin/tool"], "/opt/t", { workdir: "/" });
      await writeCopyItems(layer2, one, c.tree, { chmod: "4750", lower: EMPTY_LOWER, createdMtimeMs: 0 });
      await writeInlineFiles(layer2, [{ path: "EOF", data: "hello\n" }], "/etc/", true, {
        lower: EMPTY_LOWER,
        createdMtimeMs: 0,
      });
      assertEquals(await listTree(layer2), [
        "d etc 755 0:0",
        "f etc/EOF 644 0:0",
        "d opt 755 0:0",
        "f opt/t 4750 0:0",
      ]);
      assertEquals(await Deno.readTextFile(`${layer2}/etc/EOF`), "hello\n");
      await Deno.remove(layer2, { recursive: true });
    } finally {
      for (const d of [ctx, lower, layer]) await Deno.remove(d, { recursive: true });
    }
  },
});

Deno.test({
  name: "writeCopyItems: COPY . / keeps the metadata of an existing destination (root)",
  ignore: !IS_ROOT,
  fn: async () => {
    const ctx = await tempDir();
    const lower = await tempDir();
    const layer = await tempDir();
    try {
      await Deno.writeTextFile(`${ctx}/f`, "x");
      await Deno.chmod(ctx, 0o700);
      await Deno.mkdir(`${lower}/srv`);
      await Deno.chmod(`${lower}/srv`, 0o711);
      const c = await loadContext(ctx);
      await writeCopyItems(layer, planCopy(c.tree, ["."], "/srv", { workdir: "/" }), c.tree, {
        lower: overlayLowerView([lower]),
        createdMtimeMs: 0,
      });
      assertEquals(await listTree(layer), ["d srv 711 0:0", "f srv/f 644 0:0"]);
    } finally {
      for (const d of [ctx, lower, layer]) await Deno.remove(d, { recursive: true });
    }
  },
});

Deno.test({
  name: "overlayLowerView: topmost layer wins, whiteouts hide (root)",
  ignore: !IS_ROOT,
  fn: async () => {
    const a = await tempDir();
    const b = await tempDir();
    try {
      await Deno.mkdir(`${a}/etc`);
      await Deno.writeTextFile(`${a}/etc/x`, "1");
      await Deno.writeTextFile(`${a}/etc/y`, "1");
      await Deno.mkdir(`${b}/etc`);
      await Deno.writeTextFile(`${b}/etc/x`, "22");
      const mk = await new Deno.Command("mknod", { args: [`${b}/etc/y`, "c", "0", "0"] }).output();
      assertEquals(mk.code, 0);
      const v = overlayLowerView([b, a]);
      assertEquals((await v.lstat("/etc/x"))?.size, 2);
      assertEquals(await v.lstat("/etc/y"), undefined);
      assertEquals((await v.lstat("/etc"))?.isDirectory, true);
      assertEquals(await v.lstat("/nope"), undefined);
    } finally {
      await Deno.remove(a, { recursive: true });
      await Deno.remove(b, { recursive: true });
    }
  },
});
