/**
 * `ctr cp` with `-`: a container path as a tar stream on stdout, and a tar stream on stdin
 * extracted into a container directory — with the layer extractor's safety rules.
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { ctr, REPO } from "./helpers.ts";
import { ok, rootTest } from "./runtime_helpers.ts";
import { encodeTar } from "../image/tar/writer.ts";
import type { TarHeader } from "../image/tar/header.ts";

const enc = new TextEncoder();

function entry(name: string, type: TarHeader["type"], extra: Partial<TarHeader> = {}, data?: string) {
  const bytes = data === undefined ? undefined : enc.encode(data);
  return {
    header: {
      name,
      type,
      mode: type === "directory" ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      size: bytes?.length ?? 0,
      mtime: 1700000000,
      ...extra,
    },
    data: bytes,
  };
}

/** Runs `ctr ARGS` and returns its raw stdout bytes. */
async function ctrBytes(
  root: string,
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(`${REPO}/ctr`, {
    args: ["--root", root, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

async function tarList(bytes: Uint8Array, flags = "tv"): Promise<string[]> {
  const c = new Deno.Command("tar", { args: [`-${flags}f`, "-"], stdin: "piped", stdout: "piped" }).spawn();
  const w = c.stdin.getWriter();
  await w.write(bytes);
  await w.close();
  const out = await c.output();
  return new TextDecoder().decode(out.stdout).trim().split("\n");
}

rootTest("runtime: cp CONTAINER:SRC - writes a tar stream named as Docker does", async ({ root, image }) => {
  await ok(root, [
    "run",
    "-d",
    "--name",
    "cs1",
    image,
    "sh",
    "-c",
    "mkdir -p /data/sub && echo one > /data/sub/f && ln -s f /data/sub/l && chown 7:8 /data/sub/f && sleep 600",
  ]);
  const dir = await ctrBytes(root, ["cp", "cs1:/data", "-"]);
  assertEquals(dir.code, 0, dir.stderr);
  const names = await tarList(dir.stdout, "t");
  assertEquals(names, ["data/", "data/sub/", "data/sub/f", "data/sub/l"]);
  const long = (await tarList(dir.stdout)).join("\n");
  assertMatch(long, /-rw-r--r-- 7\/8 +4 .* data\/sub\/f/);
  assertMatch(long, /data\/sub\/l -> f/);
  const file = await ctrBytes(root, ["cp", "cs1:/data/sub/f", "-"]);
  assertEquals(await tarList(file.stdout, "t"), ["f"]);
  const contents = await ctrBytes(root, ["cp", "cs1:/data/.", "-"]);
  assertEquals(await tarList(contents.stdout, "t"), ["./", "./sub/", "./sub/f", "./sub/l"]);
  const missing = await ctr(root, ["cp", "cs1:/nope", "-"]);
  assert(missing.code !== 0);
  assertMatch(missing.stderr, /Could not find the file \/nope in container cs1/);
  // A stopped container too (its overlay mounted for the copy).
  await ok(root, ["stop", "-t", "0", "cs1"]);
  const stopped = await ctrBytes(root, ["cp", "cs1:/data/sub/f", "-"]);
  assertEquals(await tarList(stopped.stdout, "t"), ["f"]);
  await ok(root, ["rm", "cs1"]);
});

rootTest(
  "runtime: cp - CONTAINER:DEST extracts a tar stream (plain or gzip), owners to root unless -a, unsafe entries refused",
  async ({ root, image }) => {
    await ok(root, ["run", "-d", "--name", "cs2", image, "sleep", "600"]);
    const tar = encodeTar([
      entry("d/", "directory"),
      entry("d/f", "file", { uid: 1234, gid: 99, mode: 0o640 }, "hello\n"),
      entry("d/l", "symlink", { linkname: "/etc/shadow" }),
      entry("d/h", "link", { linkname: "d/f" }),
    ]);
    const plain = await ctr(root, ["cp", "-", "cs2:/tmp"], { stdin: tar });
    assertEquals(plain.code, 0, plain.stderr);
    assertEquals(
      (await ok(root, [
        "exec",
        "cs2",
        "sh",
        "-c",
        "cat /tmp/d/f; stat -c '%u:%g %a' /tmp/d/f; readlink /tmp/d/l",
      ]))
        .trim().split("\n"),
      ["hello", "0:0 640", "/etc/shadow"],
    );
    // -a keeps the archive's owners; gzip is accepted.
    const gz = new Uint8Array(
      await new Response(
        new Blob([tar as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip")),
      ).arrayBuffer(),
    );
    const zipped = await ctr(root, ["cp", "-a", "-", "cs2:/root"], { stdin: gz });
    assertEquals(zipped.code, 0, zipped.stderr);
    assertEquals((await ok(root, ["exec", "cs2", "stat", "-c", "%u:%g", "/root/d/f"])).trim(), "1234:99");
    // The destination must be an existing directory.
    const notDir = await ctr(root, ["cp", "-", "cs2:/etc/passwd"], { stdin: tar });
    assertMatch(notDir.stderr, /extraction point is not a directory/);
    const missing = await ctr(root, ["cp", "-", "cs2:/nope"], { stdin: tar });
    assertMatch(missing.stderr, /Could not find the file \/nope in container cs2/);
    // Unsafe archives: climbing out, writing through a symlink the archive planted.
    for (
      const evil of [
        [entry("../../escape", "file", {}, "x")],
        [
          entry("e/", "directory"),
          entry("e/s", "symlink", { linkname: "/etc" }),
          entry("e/s/evil", "file", {}, "x"),
        ],
      ]
    ) {
      const r = await ctr(root, ["cp", "-", "cs2:/tmp"], { stdin: encodeTar(evil) });
      assert(r.code !== 0, "refused");
      assertMatch(r.stderr, /Refusing layer entry/);
    }
    const leaked = await ctr(root, [
      "exec",
      "cs2",
      "sh",
      "-c",
      "ls /etc/evil /escape /tmp/escape 2>/dev/null",
    ]);
    assertEquals(leaked.stdout, "");
    for (const p of ["/etc/evil", `${root}/escape`]) {
      assert(!(await Deno.stat(p).then(() => true, () => false)), `${p} on the host`);
    }
    await ok(root, ["rm", "-f", "cs2"]);
  },
);
