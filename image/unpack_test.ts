import { assert, assertEquals, assertRejects, assertStringIncludes } from "../tests/assert.ts";
import { IS_ROOT } from "../tests/helpers.ts";
import {
  case06Layer1,
  case06Layer2,
  case10Layer,
  dir,
  file,
  hardlink,
  layer,
  type LayerEntry,
  special,
  symlink,
} from "../tests/layers.ts";
import { describeTree, diffTrees } from "../tests/tree.ts";
import { libc } from "../ffi/libc.ts";
import { AT, MS, S } from "../ffi/constants.ts";
import { cleanEntryPath, LayerError, type UnpackOptions, unpackTar } from "./unpack.ts";
import { encodeTar } from "./tar/writer.ts";

const dec = new TextDecoder();
const root = { ignore: !IS_ROOT };

/** A sandbox: `<base>/snap` is where layers go, `<base>/outside` holds a file that must never change. */
async function sandbox<T>(
  fn: (s: { base: string; snap: string; outside: string }) => Promise<T>,
): Promise<T> {
  const base = await Deno.makeTempDir({ prefix: "ctr-unpack-test-" });
  try {
    await Deno.mkdir(`${base}/snap`);
    await Deno.mkdir(`${base}/outside`);
    await Deno.writeTextFile(`${base}/outside/secret`, "untouched");
    return await fn({ base, snap: `${base}/snap`, outside: `${base}/outside` });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

function statOf(path: string) {
  return libc.statx(AT.FDCWD, path);
}

function isWhiteout(path: string): boolean {
  const st = statOf(path);
  return !!st && (st.mode & S.IFMT) === S.IFCHR && st.rdevMajor === 0 && st.rdevMinor === 0;
}

function isOpaque(path: string): boolean {
  const v = libc.lgetxattr(path, "trusted.overlay.opaque");
  return !!v && dec.decode(v) === "y";
}

Deno.test("cleanEntryPath: normalises names and refuses climbing out", () => {
  assertEquals(cleanEntryPath("./a/./b//c/", "x"), "a/b/c");
  assertEquals(cleanEntryPath("/abs/path", "x"), "abs/path");
  assertEquals(cleanEntryPath("a/../b", "x"), "b");
  assertEquals(cleanEntryPath("./", "x"), "");
  for (const bad of ["../x", "a/../../x", "/../x", "..", "a/\0b"]) {
    let err: unknown;
    try {
      cleanEntryPath(bad, bad);
    } catch (e) {
      err = e;
    }
    assert(err instanceof LayerError, `expected ${JSON.stringify(bad)} to be refused`);
  }
});

Deno.test("unpack preserves every entry type and its metadata (root)", root, async () => {
  await sandbox(async ({ snap }) => {
    const cap = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    await unpackTar(
      layer(
        dir("./", { mode: 0o755, mtime: 1600000000 }),
        dir("usr/", { mode: 0o755, uid: 0, gid: 0, mtime: 1600000001 }),
        dir("usr/bin/", { mtime: 1600000002 }),
        file("usr/bin/su", "binary", { mode: 0o4755, mtime: 1600000003, mtimeNsec: 123456789 }),
        file("usr/bin/ping", "ping", { mode: 0o755, xattrs: { "security.capability": cap } }),
        file("usr/bin/sg", "sg", { mode: 0o2755, uid: 0, gid: 42 }),
        dir("tmp/", { mode: 0o1777 }),
        dir("home/", {}),
        dir("home/u/", { mode: 0o700, uid: 1000, gid: 1000 }),
        file("home/u/f", "x", { uid: 1000, gid: 1000, mode: 0o600 }),
        symlink("bin", "usr/bin", { uid: 5, gid: 6, mtime: 1500000000 }),
        hardlink("usr/bin/su2", "usr/bin/su"),
        special("null", "char", { devmajor: 1, devminor: 3, mode: 0o666 }),
        special("loop", "block", { devmajor: 7, devminor: 0, mode: 0o660, gid: 6 }),
        special("fifo", "fifo", { mode: 0o620 }),
        file("user-xattr", "u", { xattrs: { "user.comment": new TextEncoder().encode("hi") } }),
      ),
      snap,
    );
    const t = describeTree(snap);
    assertEquals(t.get("."), "dir 755 0:0 mtime=1600000000.000000000");
    assertEquals(t.get("usr"), "dir 755 0:0 mtime=1600000001.000000000");
    assertEquals(
      t.get("usr/bin"),
      "dir 755 0:0 mtime=1600000002.000000000",
      "directory mtime set after its contents",
    );
    assertEquals(
      t.get("usr/bin/su"),
      "file 4755 0:0 size=6 mtime=1600000003.123456789 links=usr/bin/su,usr/bin/su2",
    );
    assertStringIncludes(t.get("usr/bin/ping")!, "xattr:security.capability=01000002002000");
    assertEquals(t.get("usr/bin/sg"), "file 2755 0:42 size=2 mtime=1700000000.000000000");
    assertEquals(t.get("tmp"), "dir 1777 0:0 mtime=1700000000.000000000");
    assertEquals(t.get("home/u"), "dir 700 1000:1000 mtime=1700000000.000000000");
    assertEquals(t.get("bin"), "symlink 777 5:6 -> usr/bin mtime=1500000000.000000000");
    assertEquals(t.get("null"), "char 666 0:0 dev=1,3 mtime=1700000000.000000000");
    assertEquals(t.get("loop"), "block 660 0:6 dev=7,0 mtime=1700000000.000000000");
    assertEquals(t.get("fifo"), "fifo 620 0:0 mtime=1700000000.000000000");
    assertStringIncludes(t.get("user-xattr")!, "xattr:user.comment=6869");
  });
});

Deno.test("unpack matches GNU tar on the same archive (root)", root, async () => {
  await sandbox(async ({ base, snap }) => {
    const bytes = layer(
      dir("./"),
      dir("a/", { mode: 0o750, uid: 3, gid: 4 }),
      file("a/f", "data", { mode: 0o640, mtimeNsec: 5e8 }),
      symlink("a/s", "f"),
      hardlink("a/h", "a/f"),
      special("a/p", "fifo"),
      dir("long/", { mtime: 1 }),
      dir(`long/${"x".repeat(200)}/`),
      file(`long/${"x".repeat(200)}/${"y".repeat(120)}`, "deep"),
    );
    await Deno.writeFile(`${base}/l.tar`, bytes);
    await Deno.mkdir(`${base}/gnu`);
    const out = await new Deno.Command("tar", {
      args: [
        "--numeric-owner",
        "-p",
        "--xattrs",
        "--xattrs-include=*",
        "-xf",
        `${base}/l.tar`,
        "-C",
        `${base}/gnu`,
      ],
    }).output();
    assert(out.success);
    await unpackTar(bytes, snap);
    assertEquals(diffTrees(describeTree(`${base}/gnu`), describeTree(snap)), []);
  });
});

Deno.test(
  "case 06: whiteouts and opaque markers become overlayfs form, spec order (root)",
  root,
  async () => {
    await sandbox(async ({ base }) => {
      const l1 = `${base}/l1`, l2 = `${base}/l2`;
      await Deno.mkdir(l1);
      await Deno.mkdir(l2);
      await unpackTar(case06Layer1(), l1);
      await unpackTar(case06Layer2(), l2, { lowerDirs: [l1] });
      assert(isWhiteout(`${l2}/etc/gone`), "etc/gone is a whiteout device");
      assert(isWhiteout(`${l2}/d/sub`), "d/sub is a whiteout device");
      assert(isOpaque(`${l2}/a`), "a is opaque");
      assertEquals(
        await Deno.readTextFile(`${l2}/a/b/c/new`),
        "new\n",
        "the opaque marker after it kept a/b/c/new",
      );
      assertEquals(
        await Deno.readTextFile(`${l2}/x/new.txt`),
        "n\n",
        "same-layer whiteout before the file kept it",
      );
      const names = [...describeTree(l2).keys()];
      assertEquals(names.filter((n) => n.split("/").pop()!.startsWith(".wh.")), [], "markers are consumed");
      // The merged view through a real overlay mount is what a container sees.
      const merged = `${base}/merged`;
      await Deno.mkdir(merged);
      libc.mount("overlay", merged, "overlay", MS.RDONLY, `lowerdir=${l2}:${l1}`);
      try {
        const exists = (p: string) => statOf(`${merged}/${p}`) !== null;
        assertEquals(await Deno.readTextFile(`${merged}/etc/keep`), "k");
        assertEquals(exists("etc/gone"), false);
        assertEquals(exists("d"), true);
        assertEquals(exists("d/sub"), false);
        assertEquals(exists("a/b/c/old"), false);
        assertEquals(await Deno.readTextFile(`${merged}/a/b/c/new`), "new\n");
        assertEquals(await Deno.readTextFile(`${merged}/x/new.txt`), "n\n");
      } finally {
        libc.umount(merged);
      }
    });
  },
);

Deno.test(
  "whiteouts: spec semantics for same-layer names and recreated directories (root)",
  root,
  async () => {
    await sandbox(async ({ base }) => {
      const l1 = `${base}/l1`, l2 = `${base}/l2`;
      await Deno.mkdir(l1);
      await Deno.mkdir(l2);
      await unpackTar(layer(dir("p/"), file("p/old", "1"), dir("q/"), file("q/old", "1")), l1);
      await unpackTar(
        layer(
          file("p/.wh..wh..opq"),
          // whiteout first, then a new directory of the same name: nothing of the old one shows
          file(".wh.q"),
          dir("q/"),
          file("q/new", "2"),
          // a file of this layer, then a whiteout of the same name after it: the file stays
          file("keep", "3"),
          file(".wh.keep"),
        ),
        l2,
        { lowerDirs: [l1] },
      );
      assert(isOpaque(`${l2}/p`));
      assert(isOpaque(`${l2}/q`), "a directory recreated after its whiteout is opaque");
      assertEquals(await Deno.readTextFile(`${l2}/q/new`), "2");
      assertEquals(await Deno.readTextFile(`${l2}/keep`), "3");
    });
  },
);

Deno.test("implicit parent directories take their metadata from the lower layers (root)", root, async () => {
  await sandbox(async ({ base }) => {
    const l1 = `${base}/l1`, l2 = `${base}/l2`;
    await Deno.mkdir(l1);
    await Deno.mkdir(l2);
    await unpackTar(
      layer(
        dir("./", { mode: 0o755 }),
        dir("tmp/", { mode: 0o1777, mtime: 1234 }),
        dir("srv/", { uid: 7, gid: 8 }),
      ),
      l1,
    );
    await unpackTar(layer(file("tmp/x", "x"), file("srv/a/b", "b"), file("new/c", "c")), l2, {
      lowerDirs: [l1],
    });
    const t = describeTree(l2, { xattrs: false });
    assertEquals(t.get("tmp"), "dir 1777 0:0 mtime=1234.000000000");
    assertStringIncludes(t.get("srv")!, "dir 755 7:8");
    assertStringIncludes(t.get("srv/a")!, "dir 755 0:0");
    assertStringIncludes(t.get("new")!, "dir 755 0:0");
    assertStringIncludes(t.get(".")!, "dir 755 0:0", "the layer root takes the lower root's mode");
  });
});

Deno.test("case 08: hard links of a layer share one inode (root)", root, async () => {
  await sandbox(async ({ snap }) => {
    await unpackTar(
      layer(
        file("f1", "data"),
        hardlink("f2", "f1"),
        file("g1", "same"),
        hardlink("g2", "g1"),
        hardlink("g3", "/g1"),
      ),
      snap,
    );
    const ino = (p: string) => statOf(`${snap}/${p}`)!;
    assertEquals([ino("f1").ino === ino("f2").ino, ino("f1").nlink], [true, 2]);
    assertEquals([ino("g1").ino === ino("g3").ino, ino("g2").nlink], [true, 3]);
  });
});

Deno.test("case 10: FIFOs and device nodes, extraction continues past them (root)", root, async () => {
  await sandbox(async ({ snap }) => {
    await unpackTar(case10Layer(), snap);
    const fifo = statOf(`${snap}/srv/run/ctl.fifo`)!;
    assertEquals([fifo.mode & S.IFMT, fifo.mode & 0o7777, fifo.uid, fifo.gid], [S.IFIFO, 0o620, 0, 0]);
    const dev = statOf(`${snap}/srv/devs/nullish`)!;
    assertEquals([dev.mode & S.IFMT, dev.rdevMajor, dev.rdevMinor], [S.IFCHR, 1, 3]);
    assertEquals(await Deno.readTextFile(`${snap}/srv/after.txt`), "after");
  });
});

Deno.test(
  "case 10: in a user namespace a device node is skipped with a warning, the FIFO is made (root)",
  root,
  async () => {
    await sandbox(async ({ base, snap }) => {
      await Deno.writeFile(`${base}/l.tar`, case10Layer());
      const script = `${base}/u.ts`;
      await Deno.writeTextFile(
        script,
        `import { unpackTar } from ${JSON.stringify(new URL("./unpack.ts", import.meta.url).href)};
       await unpackTar(Deno.readFileSync(Deno.args[0]), Deno.args[1]);`,
      );
      const out = await new Deno.Command("unshare", {
        args: [
          "--user",
          "--map-root-user",
          Deno.execPath(),
          "run",
          "-A",
          "--quiet",
          script,
          `${base}/l.tar`,
          snap,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = dec.decode(out.stderr);
      assertEquals(out.code, 0, stderr);
      assertStringIncludes(stderr, "srv/devs/nullish");
      assertEquals(statOf(`${snap}/srv/run/ctl.fifo`)!.mode & S.IFMT, S.IFIFO);
      assertEquals(statOf(`${snap}/srv/devs/nullish`), null);
      assertEquals(await Deno.readTextFile(`${snap}/srv/after.txt`), "after");
    });
  },
);

// ---------------------------------------------------------------- safety: one test per trick

interface Trick {
  name: string;
  /** Entries of the layer (given the sandbox's absolute outside dir). */
  entries: (outside: string) => LayerEntry[];
  /** Lower layer entries, if the trick relies on one. */
  lower?: (outside: string) => LayerEntry[];
  options?: UnpackOptions;
  /** Text the error must include. */
  error: string;
}

const tricks: Trick[] = [
  {
    name: "../ name",
    entries: () => [file("../outside/secret", "pwned")],
    error: "climbs out of the layer root",
  },
  {
    name: "a/../../ name",
    entries: () => [dir("a/"), file("a/../../outside/new", "x")],
    error: "climbs out",
  },
  {
    name: "write through a symlink planted earlier in the layer (absolute target)",
    entries: (o) => [symlink("link", o), file("link/secret", "pwned")],
    error: '"link" is a symlink of this layer',
  },
  {
    name: "write through a symlink planted earlier in the layer (relative target)",
    entries: () => [symlink("link", "../outside"), file("link/new", "pwned")],
    error: "is a symlink of this layer",
  },
  {
    name: "directory through a symlink planted earlier in the layer",
    entries: (o) => [symlink("link", o), dir("link/sub/")],
    error: "is a symlink of this layer",
  },
  {
    name: "write through a symlink in a lower layer",
    lower: (o) => [symlink("link", o)],
    entries: () => [file("link/secret", "pwned")],
    error: '"link" is a symlink in a lower layer',
  },
  {
    name: "hard link to an absolute outside path",
    entries: (o) => [hardlink("h", `${o}/secret`)],
    error: "is not an earlier entry of this layer",
  },
  {
    name: "hard link climbing out",
    entries: () => [hardlink("h", "../outside/secret")],
    error: "climbs out",
  },
  {
    name: "hard link to a file of a lower layer",
    lower: () => [file("lowerfile", "x")],
    entries: () => [hardlink("h", "lowerfile")],
    error: "is not an earlier entry of this layer",
  },
  {
    name: "hard link through a symlink of the layer",
    entries: (o) => [symlink("link", o), hardlink("h", "link/secret")],
    error: "is not an earlier entry of this layer",
  },
  {
    name: "opaque marker climbing out",
    entries: () => [file("../outside/.wh..wh..opq")],
    error: "climbs out",
  },
  {
    name: "whiteout climbing out",
    entries: () => [file("../.wh.outside")],
    error: "climbs out",
  },
  {
    name: "whiteout named .wh..",
    entries: () => [dir("a/"), file("a/.wh..")],
    error: "invalid whiteout name",
  },
  {
    name: "whiteout through a symlink of the layer",
    entries: (o) => [symlink("link", o), file("link/.wh.secret")],
    error: "is a symlink of this layer",
  },
  {
    name: "device node where devices are refused",
    entries: () => [special("dev/sda", "block", { devmajor: 8, devminor: 0 })],
    options: { devices: "refuse" },
    error: "block device 8:0 nodes are not allowed",
  },
  {
    name: "overlayfs xattr smuggled in a PAX record",
    entries: () => [dir("d/", { xattrs: { "trusted.overlay.redirect": new TextEncoder().encode("/etc") } })],
    error: "trusted.overlay.redirect",
  },
  {
    name: "user.overlay xattr (userxattr overlay mounts) smuggled in a PAX record",
    entries: () => [file("f", "x", { xattrs: { "user.overlay.opaque": new TextEncoder().encode("y") } })],
    error: "user.overlay.opaque",
  },
  {
    name: "NUL byte in a PAX path",
    entries: () => [file(`${"x".repeat(300)}\0/../../outside/secret`, "x")],
    error: "NUL byte",
  },
];

for (const trick of tricks) {
  Deno.test(`unpack refuses: ${trick.name}; nothing outside changes (root)`, root, async () => {
    await sandbox(async ({ base, snap, outside }) => {
      const lowerDirs: string[] = [];
      if (trick.lower) {
        await Deno.mkdir(`${base}/lower`);
        await unpackTar(encodeTar(trick.lower(outside)), `${base}/lower`);
        lowerDirs.push(`${base}/lower`);
      }
      const before = describeTree(base, { skipRoot: true });
      before.delete("snap");
      const err = await assertRejects(
        () => unpackTar(encodeTar(trick.entries(outside)), snap, { ...trick.options, lowerDirs }),
        LayerError,
      );
      assertStringIncludes(err.message, trick.error);
      assertStringIncludes(err.message, "Refusing layer entry");
      const after = describeTree(base, { skipRoot: true });
      for (const k of [...after.keys()]) if (k === "snap" || k.startsWith("snap/")) after.delete(k);
      assertEquals(diffTrees(before, after), [], "nothing outside the snapshot changed");
      assertEquals(await Deno.readTextFile(`${outside}/secret`), "untouched");
    });
  });
}

Deno.test("unpack: a leading / is dropped and the entry stays inside (root)", root, async () => {
  await sandbox(async ({ snap, outside }) => {
    await unpackTar(layer(file(`${outside}/secret`, "inside")), snap);
    assertEquals(await Deno.readTextFile(`${snap}${outside}/secret`), "inside");
    assertEquals(await Deno.readTextFile(`${outside}/secret`), "untouched");
  });
});

Deno.test("unpack: a later entry replaces a symlink instead of writing through it (root)", root, async () => {
  await sandbox(async ({ snap, outside }) => {
    await unpackTar(layer(symlink("s", `${outside}/secret`), file("s", "mine")), snap);
    assertEquals(await Deno.readTextFile(`${snap}/s`), "mine");
    assertEquals(await Deno.readTextFile(`${outside}/secret`), "untouched");
  });
});

Deno.test("unpack: a directory replaced by a file in the same layer (root)", root, async () => {
  await sandbox(async ({ snap }) => {
    await unpackTar(layer(dir("d/"), dir("d/e/"), file("d/e/f", "1"), file("d", "now a file")), snap);
    assertEquals(await Deno.readTextFile(`${snap}/d`), "now a file");
  });
});

Deno.test(
  "owners and modes are exact even where the kernel would choose otherwise (root)",
  root,
  async () => {
    await sandbox(async ({ snap }) => {
      await unpackTar(
        layer(
          dir("g/", { mode: 0o2775, gid: 50 }),
          file("g/root-owned", "x", { uid: 0, gid: 0 }),
          symlink("g/link", "root-owned"),
          file("wide", "w", { mode: 0o666 }),
          file("plain", "p", { mode: 0o644 }),
          file("exec", "e", { mode: 0o755, uid: 7, gid: 8 }),
        ),
        snap,
      );
      const t = describeTree(snap, { mtimes: false });
      assertEquals(t.get("g"), "dir 2775 0:50");
      assertEquals(t.get("g/root-owned"), "file 644 0:0 size=1", "not the setgid directory's group");
      assertEquals(t.get("g/link"), "symlink 777 0:0 -> root-owned");
      assertEquals(t.get("wide"), "file 666 0:0 size=1", "not cut by the umask");
      assertEquals(t.get("plain"), "file 644 0:0 size=1");
      assertEquals(t.get("exec"), "file 755 7:8 size=1");
    });
  },
);
