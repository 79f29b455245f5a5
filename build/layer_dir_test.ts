import { assertEquals } from "../tests/assert.ts";
import { IS_ROOT } from "../tests/helpers.ts";
import { libc } from "../ffi/libc.ts";
import type { LowerView } from "./copy_writer.ts";
import { createLayerDir, missingPaths, normalizeLayerDir, removeMountStubs } from "./layer_dir.ts";

function fakeLower(paths: string[]): LowerView {
  const set = new Set(["/", ...paths]);
  return {
    lstat: (p: string) => Promise.resolve(set.has(p) ? ({ isDirectory: true } as Deno.FileInfo) : undefined),
  };
}

Deno.test("missingPaths lists what the image lacks, ancestors included, deepest first", async () => {
  const lower = fakeLower(["/proc", "/etc", "/var", "/var/cache"]);
  assertEquals(
    await missingPaths(lower, ["/proc", "/etc/hosts", "/var/cache/app/go", "/cache/x", "/cache/y"]),
    ["/var/cache/app/go", "/var/cache/app", "/etc/hosts", "/cache/y", "/cache/x", "/cache"],
  );
  assertEquals(await missingPaths(lower, ["/proc", "/"]), []);
});

Deno.test("removeMountStubs removes empty stubs only, keeping what the step wrote", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/cache/app`, { recursive: true });
    await Deno.mkdir(`${dir}/kept/dir`, { recursive: true });
    await Deno.writeTextFile(`${dir}/kept/dir/data`, "written by the RUN");
    await Deno.mkdir(`${dir}/etc`);
    await Deno.writeTextFile(`${dir}/etc/hosts`, "");
    await Deno.writeTextFile(`${dir}/etc/resolv.conf`, "nameserver 1.1.1.1\n");
    await removeMountStubs(dir, [
      "/kept/dir",
      "/cache/app",
      "/etc/resolv.conf",
      "/etc/hosts",
      "/kept",
      "/cache",
      "/nope",
    ]);
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assertEquals(names, ["etc", "kept"]);
    assertEquals((await Array.fromAsync(Deno.readDir(`${dir}/etc`))).map((e) => e.name), ["resolv.conf"]);
    assertEquals(await Deno.readTextFile(`${dir}/kept/dir/data`), "written by the RUN");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createLayerDir makes a 0755 root; normalizeLayerDir clamps mtimes and takes the root below", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const dir = await createLayerDir(parent);
    assertEquals((await Deno.stat(dir)).mode! & 0o7777, 0o755);
    await Deno.mkdir(`${dir}/d`);
    await Deno.writeTextFile(`${dir}/d/f`, "12345");
    await Deno.symlink("d/f", `${dir}/link`);
    await Deno.utime(`${dir}/d`, new Date(50_500), new Date(50_500));
    const size = await normalizeLayerDir(dir, 100, { isDirectory: true, mode: 0o40700 } as Deno.FileInfo);
    assertEquals(size, 5);
    assertEquals((await Deno.stat(dir)).mode! & 0o7777, 0o700);
    assertEquals((await Deno.lstat(`${dir}/d/f`)).mtime!.getTime(), 100_000); // clamped to the epoch
    assertEquals((await Deno.lstat(`${dir}/d`)).mtime!.getTime(), 50_000); // older: kept, whole seconds
    assertEquals((await Deno.lstat(`${dir}/link`)).mtime!.getTime(), 100_000); // the link itself
    assertEquals((await Deno.stat(`${dir}/link`)).mtime!.getTime(), 100_000);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test({
  name: "normalizeLayerDir drops overlayfs bookkeeping xattrs but keeps opaque (root)",
  ignore: !IS_ROOT,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.mkdir(`${dir}/o`);
      const y = new TextEncoder().encode("y");
      libc.lsetxattr(`${dir}/o`, "trusted.overlay.opaque", y);
      libc.lsetxattr(`${dir}/o`, "trusted.overlay.impure", y);
      libc.lsetxattr(`${dir}/o`, "user.keep", y);
      await normalizeLayerDir(dir, 0);
      assertEquals(libc.llistxattr(`${dir}/o`).sort(), ["trusted.overlay.opaque", "user.keep"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
