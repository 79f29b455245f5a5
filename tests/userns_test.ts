/**
 * User namespaces end to end (root): `--userns=auto`, the daemon-wide `"userns-remap"`,
 * `--userns=host`, exec into a remapped container, layers shared through idmapped mounts
 * (and the chowned-copy fallback), and the acceptance case: a remapped container's root
 * writes a file to a bind mount, and on the host it belongs to the mapped uid.
 *
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr, fixture, IS_ROOT, withRoot } from "./helpers.ts";
import { buildImage, storeImage } from "./image_builder.ts";
import { importFixtureImage } from "./fixture_image.ts";

async function ok(root: string, args: string[], env?: Record<string, string>): Promise<string> {
  const r = await ctr(root, args, { env });
  assertEquals(r.code, 0, `ctr ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** `0 HOST SIZE` of a uid_map line → HOST. */
function mappedRoot(uidMap: string): number {
  const f = uidMap.trim().split(/\s+/).map(Number);
  assertEquals(f[0], 0, uidMap);
  return f[1];
}

function ctrRange(): { start: number; count: number } {
  const line = Deno.readTextFileSync("/etc/subuid").split("\n").find((l) => l.startsWith("ctr:"));
  assert(line, "ctr has a subordinate range in /etc/subuid");
  const [, start, count] = line.split(":").map(Number);
  return { start, count };
}

function rootTest(name: string, fn: (root: string) => Promise<void>) {
  Deno.test({
    name: `${name} (root)`,
    ignore: !IS_ROOT,
    fn: () =>
      withRoot(async (root) => {
        await importFixtureImage(root, "busybox");
        await fn(root);
      }),
  });
}

rootTest(
  "userns: --userns=auto — root inside is an unprivileged host uid; bind-mount files belong to it",
  async (root) => {
    const data = await Deno.makeTempDir({ prefix: "ctr-userns-data-" });
    try {
      await Deno.chmod(data, 0o1777);
      const secret = `${data}/secret`;
      await Deno.writeTextFile(secret, "host root only\n", { mode: 0o600 });
      const out = await ok(root, [
        "run",
        "--rm",
        "--userns=auto",
        "-v",
        `${data}:/data`,
        "busybox",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; echo made > /data/by-container; ls -ln /data/by-container; cat /data/secret 2>&1; touch /made-in-rootfs && echo rootfs-writable",
      ]);
      const lines = out.split("\n");
      assertEquals(lines[0], "0", "root inside");
      const host = mappedRoot(lines[1]);
      const range = ctrRange();
      assert(host >= range.start && host < range.start + range.count, `mapped root ${host} in ctr's range`);
      // inside, the file is root's; on the host it belongs to the mapped uid
      assertMatch(lines[2], /^-rw-r--r--\s+1 0\s+0\s/);
      const st = await Deno.stat(`${data}/by-container`);
      assertEquals([st.uid, st.gid], [host, host]);
      // the host's root-only file stays closed to the container's root
      assertStringIncludes(lines[3], "Permission denied");
      assertEquals(lines[4], "rootfs-writable");
    } finally {
      await Deno.remove(data, { recursive: true });
    }
  },
);

rootTest(
  "userns: daemon-wide userns-remap default, --userns=host opts out, auto takes another block",
  async (root) => {
    await Deno.writeTextFile(`${root}/config.json`, JSON.stringify({ "userns-remap": "default" }));
    const range = ctrRange();
    const remapped = mappedRoot(await ok(root, ["run", "--rm", "busybox", "cat", "/proc/self/uid_map"]));
    assertEquals(remapped, range.start, "block 0 of ctr's range");
    const host = (await ok(root, ["run", "--rm", "--userns=host", "busybox", "cat", "/proc/self/uid_map"]))
      .trim();
    assertMatch(host, /^0\s+0\s+4294967295$/);
    const auto = mappedRoot(
      await ok(root, ["run", "--rm", "--userns=auto", "busybox", "cat", "/proc/self/uid_map"]),
    );
    assert(auto >= range.start + 65536, `auto (${auto}) does not share the remap's block`);
    const bad = await ctr(root, ["run", "--rm", "--userns=private", "busybox", "true"]);
    assertEquals(bad.code, 125);
    assertStringIncludes(bad.stderr, "invalid USER namespace mode");
  },
);

rootTest(
  "userns: layers are shared through idmapped mounts, detached after start; exec joins the namespace",
  async (root) => {
    const id = (await ok(root, ["run", "-d", "--userns=auto", "busybox", "sleep", "60"])).trim();
    const inRun = (await ok(root, ["exec", id, "cat", "/proc/self/uid_map"])).trim();
    const host = mappedRoot(inRun);
    assertEquals((await ok(root, ["exec", id, "id", "-u"])).trim(), "0");
    await ok(root, ["exec", id, "touch", "/from-exec"]);
    const made = await Deno.stat(`${root}/containers/${id}/upper/from-exec`);
    assertEquals(made.uid, host, "exec writes as the mapped root");
    // no copy of the layers, and no idmapped mount left on the host once the container runs
    await Deno.stat(`${root}/userns`).then(() => assert(false, "no chowned copy"), () => {});
    const mounts = await Deno.readTextFile("/proc/self/mountinfo");
    assert(!mounts.includes(`${root}/containers/${id}/idmap`), "idmapped mounts detached");
    // the image's files still show their own owners inside
    assertMatch(await ok(root, ["exec", id, "ls", "-ln", "/bin/busybox"]), /^-rwxr-xr-x\s+1 0\s+0\s/);
    await ok(root, ["rm", "-f", id]);
  },
);

rootTest(
  "userns: where idmapped mounts are refused, each layer is copied once with shifted owners",
  async (root) => {
    const env = { CTR_USERNS_COPY: "1" };
    const out = await ok(root, [
      "run",
      "--rm",
      "--userns=auto",
      "busybox",
      "sh",
      "-c",
      "cat /proc/self/uid_map; ls -ln /bin/busybox",
    ], env);
    const host = mappedRoot(out.split("\n")[0]);
    assertMatch(out.split("\n")[1], /^-rwxr-xr-x\s+1 0\s+0\s/);
    const copies = [...Deno.readDirSync(`${root}/userns/${host}-${host}`)];
    assertEquals(copies.length, 1);
    const st = await Deno.stat(`${root}/userns/${host}-${host}/${copies[0].name}/bin/busybox`);
    assertEquals(st.uid, host);
    // a second container reuses the copy
    await ok(root, ["run", "--rm", "--userns=auto", "busybox", "true"], env);
    assertEquals([...Deno.readDirSync(`${root}/userns/${host}-${host}`)].length, 1);
  },
);

rootTest(
  "userns: a directory made opaque by a later layer hides the layers below (overlay mounted by the host)",
  async (root) => {
    const busybox = await Deno.readFile(await fixture("busybox"));
    const img = buildImage([busybox, { "d/": "", "d/a": "a" }, {
      "d/": "",
      "d/.wh..wh..opq": "",
      "d/b": "b",
    }], {
      architecture: Deno.build.arch === "x86_64" ? "amd64" : "arm64",
    });
    await storeImage(root, "opaque:1", img);
    assertEquals(await ok(root, ["run", "--rm", "opaque:1", "ls", "/d"]), "b\n");
    assertEquals(await ok(root, ["run", "--rm", "--userns=auto", "opaque:1", "ls", "/d"]), "b\n");
    assertEquals(
      await ok(root, ["run", "--rm", "--userns=auto", "opaque:1", "ls", "/d"], { CTR_USERNS_COPY: "1" }),
      "b\n",
    );
    const mounts = await Deno.readTextFile("/proc/self/mountinfo");
    assert(!mounts.includes(`${root}/containers/`), "no rootfs or layer mount left on the host");
  },
);

rootTest(
  "userns: a fresh volume belongs to the remapped root; what it writes there is owned by the mapped uid",
  async (root) => {
    const out = await ok(root, [
      "run",
      "--rm",
      "--userns=auto",
      "-v",
      "userdata:/data",
      "-v",
      "/etc",
      "busybox",
      "sh",
      "-c",
      "cat /proc/self/uid_map; echo x > /data/file && ls -ln /data/file; ls -ln /etc/passwd",
    ]);
    const [map, file, passwd] = out.trim().split("\n");
    const host = mappedRoot(map);
    assertMatch(file, /^-rw-r--r--\s+1 0\s+0\s/);
    // the image's /etc, copied into the anonymous volume, keeps its owners as seen inside
    assertMatch(passwd, /\s0\s+0\s/);
    const inspect = JSON.parse(await ok(root, ["volume", "inspect", "userdata"]))[0];
    const st = await Deno.stat(`${inspect.Mountpoint}/file`);
    assertEquals([st.uid, st.gid], [host, host]);
  },
);
