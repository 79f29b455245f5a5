/**
 * Bad input from the outside, end to end through `./ctr`: malformed Dockerfiles, malicious and
 * broken layer tarballs, a state root on a full filesystem, an import killed half-way. Each
 * must fail with an error naming the problem (file:line where there is one) and a non-zero
 * exit, and leave nothing half-written: no image, no blob under a digest, no partial snapshot,
 * nothing outside the root.
 *
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr, fixture, IS_ROOT, REPO, unmountUnder, withRoot } from "./helpers.ts";
import { build, importFixture, withContext } from "./build_helpers.ts";
import { file, hardlink, layer, symlink } from "./layers.ts";
import { gzipSync } from "node:zlib";

/** Names under `dir` (none when it does not exist). */
async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** What a state root holds that a failed command must not have changed. */
async function contents(root: string) {
  const images = await ctr(root, ["images", "-aq", "--no-trunc"]);
  return {
    images: images.stdout,
    blobs: await entries(`${root}/blobs/sha256`),
    ingest: await entries(`${root}/blobs/ingest`),
    snapshots: (await entries(`${root}/snapshots`)).filter((n) => !["locks", "tmp"].includes(n)),
    snapshotTmp: await entries(`${root}/snapshots/tmp`),
    buildTmp: await entries(`${root}/build/tmp`),
  };
}

// ------------------------------------------------------------------------ Dockerfiles

/** A Dockerfile, the exit code and the last line of stderr `ctr build` must give. */
const badDockerfiles: [string, number, string][] = [
  ["FROM\n", 1, "ctr: Dockerfile:1: FROM requires either one or three arguments"],
  ["FROM busybox AS\n", 1, "ctr: Dockerfile:1: FROM requires either one or three arguments"],
  [
    "FROM busybox AS 1bad\n",
    1,
    `ctr: Dockerfile:1: invalid name for build stage: "1bad", name can't start with a number or contain symbols`,
  ],
  [
    "FROM busybox\n\nFROM BusyBox\n",
    1,
    `ctr: Dockerfile:3: invalid image name "BusyBox": invalid reference format: repository name must be lowercase`,
  ],
  ["RUN echo before from\n", 1, "ctr: Dockerfile:1: no build stage in current context"],
  ["FROM busybox\nENV A\n", 1, "ctr: Dockerfile:2: ENV must have two arguments"],
  [
    'FROM busybox\nENV A="unterminated\n',
    1,
    `ctr: Dockerfile:2: failed to process "\\"unterminated": unexpected end of statement while looking for matching double-quote`,
  ],
  ["FROM busybox\nENV A=${B\n", 1, `ctr: Dockerfile:2: failed to process "\${B": syntax error: missing '}'`],
  ["FROM busybox\nEXPOSE 99999\n", 1, "ctr: Dockerfile:2: invalid containerPort: 99999"],
  ["FROM busybox\nSTOPSIGNAL NOPE\n", 1, "ctr: Dockerfile:2: Invalid signal: NOPE"],
  [
    "FROM busybox\nHEALTHCHECK --interval=abc CMD true\n",
    1,
    'ctr: Dockerfile:2: time: invalid duration "abc"',
  ],
  ["FROM busybox\nSHELL sh -c\n", 1, "ctr: Dockerfile:2: SHELL requires the arguments to be in JSON form"],
  ["FROM busybox\nRUN <<EOF\necho never closed\n", 1, "ctr: Dockerfile:2: unterminated heredoc EOF"],
  ["FROM busybox\nCOPY <<EOF /x\nnever closed\n", 1, "ctr: Dockerfile:2: unterminated heredoc EOF"],
  ["# escape=x\nFROM busybox\n", 1, "ctr: Dockerfile:1: invalid escape token 'x' does not match ` or \\"],
  [
    "FROM busybox\nONBUILD ONBUILD RUN x\n",
    1,
    "ctr: Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
  ],
  ["FROM busybox\nCOPY --chmod=999 a b\n", 1, 'ctr: Dockerfile:2: invalid chmod parameter: "999"'],
  ["FROM busybox\nRUN --mount=type=bogus true\n", 1, 'ctr: Dockerfile:2: unsupported mount type "bogus"'],
  ["FROM busybox\nBOGUS x\n", 1, "ctr: Dockerfile:2: unknown instruction: BOGUS"],
  ["FROM busybox\n\xff\xfeRUN true\n", 1, "ctr: Dockerfile:2: unknown instruction: \ufffd\ufffdRUN"],
];

Deno.test({
  name: "bad input: malformed Dockerfiles fail with file:line and the problem; nothing is kept (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withRoot(async (root) => {
      await importFixture(root, "busybox");
      const before = await contents(root);
      for (const [dockerfile, code, last] of badDockerfiles) {
        // Written as bytes: the invalid UTF-8 case must reach the parser unchanged.
        const bytes = Uint8Array.from(dockerfile, (c) => c.charCodeAt(0));
        await withContext({ Dockerfile: bytes, a: "" }, async (dir) => {
          const r = await build(root, dir, ["-t", "never"]);
          assertEquals(r.code, code, `${JSON.stringify(dockerfile)}: ${r.stderr}`);
          assertEquals(r.stderr.trim().split("\n").pop(), last, JSON.stringify(dockerfile));
        });
      }
      assertEquals(await contents(root), before);
    }),
});

Deno.test({
  name: "bad input: build -t with an uppercase repository says it must be lowercase, before any work (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withRoot(async (root) => {
      await importFixture(root, "busybox");
      await withContext({ Dockerfile: "FROM busybox\nRUN true\n" }, async (dir) => {
        const r = await build(root, dir, ["-t", "localhost:5000/Team/App:1"]);
        assertEquals(r.code, 125);
        assertEquals(
          r.stderr.split("\n")[0],
          'ctr: invalid argument "localhost:5000/Team/App:1" for "-t, --tag" flag: invalid reference format: repository name must be lowercase',
        );
        assert(!r.stderr.includes("#1 "), "no step ran");
      });
    }),
});

// ------------------------------------------------------------------------ layer tarballs

/** A tarball `ctr import` must refuse, and the words its error must hold. */
interface BadTar {
  name: string;
  bytes: (outside: string) => Uint8Array;
  error: string;
}

/** A tar whose one metadata header of `type` claims `size` bytes (octal), then ends. */
function oversizedHeader(type: string): Uint8Array {
  const out = new Uint8Array(512 * 3);
  const h = out.subarray(0, 512);
  const enc = new TextEncoder();
  h.set(enc.encode("././@LongLink"), 0);
  h.set(enc.encode("0000644\0"), 100);
  h.set(enc.encode("0000000\0"), 108);
  h.set(enc.encode("0000000\0"), 116);
  h.set(enc.encode("77777777777\0"), 124);
  h.set(enc.encode("00000000000\0"), 136);
  h[156] = type.charCodeAt(0);
  h.set(enc.encode("ustar\u000000"), 257);
  h.fill(0x20, 148, 156);
  const sum = h.reduce((n, b) => n + b, 0);
  h.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return out;
}

const payload = new Uint8Array(200_000).map((_, i) => (i * 7919) % 251);
const bigLayer = layer(file("big", payload));
const gzipped = gzipSync(bigLayer);

const badTars: BadTar[] = [
  {
    name: "../ path",
    bytes: (o) => layer(file("ok", "x"), file(`../../../../../..${o}/escaped`, "pwned")),
    error: 'Refusing layer entry "../../../../../..',
  },
  {
    name: "write through a symlink to an outside directory",
    bytes: (o) => layer(symlink("d", o), file("d/escaped", "pwned")),
    error: 'Refusing layer entry "d/escaped": "d" is a symlink of this layer, not a directory',
  },
  {
    name: "hard link to a host file",
    bytes: () => layer(hardlink("h", "/etc/shadow")),
    error: 'Refusing layer entry "h": hard link target "/etc/shadow" is not an earlier entry of this layer',
  },
  {
    name: "PAX header claiming 8 GiB",
    bytes: () => oversizedHeader("x"),
    error:
      "Tar PAX header (type x) of 8589934591 bytes at offset 0 is larger than the limit of 1048576 bytes",
  },
  {
    name: "GNU long name claiming 8 GiB",
    bytes: () => oversizedHeader("L"),
    error: "Tar GNU long name (type L) of 8589934591 bytes at offset 0 is larger than the limit",
  },
  {
    name: "truncated tar",
    bytes: () => bigLayer.slice(0, 100_000),
    error: 'Unexpected end of tar archive in entry "big" at offset 100000',
  },
  {
    name: "truncated gzip",
    bytes: () => gzipped.slice(0, gzipped.length >> 1),
    error: "Invalid gzip data: unexpected end of file",
  },
  {
    name: "corrupt gzip",
    bytes: () => {
      const b = gzipped.slice();
      b[b.length >> 1] ^= 0xff;
      return b;
    },
    error: "Invalid gzip data",
  },
  {
    name: "garbage",
    bytes: () => new TextEncoder().encode("not a tar archive at all\n".repeat(100)),
    error: "Tar header field",
  },
];

Deno.test({
  name:
    "bad input: import refuses malicious and broken tarballs by name; nothing kept or written outside (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withRoot(async (root) => {
      await importFixture(root, "busybox");
      const outside = await Deno.makeTempDir({ prefix: "ctr-outside-" });
      try {
        const before = await contents(root);
        for (const t of badTars) {
          const path = `${outside}.tar`;
          await Deno.writeFile(path, t.bytes(outside));
          try {
            const r = await ctr(root, ["import", path, "never"]);
            assertEquals(r.code, 1, `${t.name}: ${r.stderr}`);
            assertStringIncludes(r.stderr, t.error, t.name);
            assertEquals(await entries(outside), [], `${t.name}: nothing written outside`);
          } finally {
            await Deno.remove(path);
          }
        }
        assertEquals(await contents(root), before);
        // The root still works.
        assertEquals((await ctr(root, ["run", "--rm", "busybox", "true"])).code, 0);
      } finally {
        await Deno.remove(outside, { recursive: true });
      }
    }),
});

// ------------------------------------------------------------------------ full disk, killed import

Deno.test({
  name:
    "bad input: import into a full 50 MB root fails naming ENOSPC, leaves no blob or snapshot, next import works (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withRoot(async (dir) => {
      const root = `${dir}/small`;
      await Deno.mkdir(root);
      const mount = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "size=50m", "tmpfs", root],
        stderr: "piped",
      }).output();
      assert(mount.success, new TextDecoder().decode(mount.stderr));
      try {
        // Debian's compressed tarball alone (53 MB) does not fit: the blob write fails.
        const r = await ctr(root, ["import", await fixture("debian"), "debian"]);
        assertEquals(r.code, 1, r.stderr);
        assertMatch(
          r.stderr,
          /^ctr: Cannot write blob to "[^"]+\/blobs\/ingest\/[^"]+": No space left on device/,
        );
        const after = await contents(root);
        assertEquals(after.images, "");
        assertEquals(after.blobs, []);
        assertEquals(after.ingest, []);
        assertEquals(after.snapshots, []);
        // The space came back: a small image imports and runs.
        await importFixture(root, "busybox");
        assertEquals((await ctr(root, ["run", "--rm", "busybox", "true"])).code, 0);
      } finally {
        await ctr(root, ["system", "reset", "-f"]);
        await unmountUnder(root);
      }
    }),
});

Deno.test({
  name: "bad input: an import killed half-way leaves no image; prune removes its partial blob at once (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withRoot(async (root) => {
      await importFixture(root, "busybox");
      const before = await contents(root);
      const child = new Deno.Command(`${REPO}/ctr`, {
        args: ["--root", root, "import", "-", "half"],
        stdin: "piped",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const w = child.stdin.getWriter();
      const tarball = await Deno.readFile(await fixture("debian"));
      await w.write(tarball.subarray(0, 3_000_000));
      // Wait until the partial blob is on disk, then kill.
      for (let i = 0; i < 400; i++) {
        const names = await entries(`${root}/blobs/ingest`);
        if (names.length && (await Deno.stat(`${root}/blobs/ingest/${names[0]}`)).size >= 3_000_000) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      assertEquals((await entries(`${root}/blobs/ingest`)).length, 1);
      child.kill("SIGKILL");
      await child.status;
      await w.close().catch(() => {});
      assertEquals((await ctr(root, ["images", "-aq", "--no-trunc"])).stdout, before.images);
      const prune = await ctr(root, ["image", "prune", "-f"]);
      assertEquals(prune.code, 0, prune.stderr);
      assertEquals(await contents(root), before);
      // And the same import then succeeds.
      const again = await ctr(root, ["import", "-", "half"], { stdin: tarball });
      assertEquals(again.code, 0, again.stderr);
    }),
});

// ------------------------------------------------------------------------ not root

Deno.test({
  name: "bad input: a user who is not root is told so when refused, not only the errno (root)",
  ignore: !IS_ROOT,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "ctr-nobody-" });
    await Deno.chmod(home, 0o777);
    try {
      const asNobody = (args: string[]) =>
        new Deno.Command("setpriv", {
          args: [
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            `${REPO}/ctr`,
            "--root",
            `${home}/root`,
            ...args,
          ],
          env: { HOME: home, DENO_DIR: `${home}/deno` },
          stdout: "piped",
          stderr: "piped",
        }).output();
      const hint = "ctr: you are not root (uid 65534): ctr needs root for containers, images and networks";
      const imported = await asNobody(["import", await fixture("busybox"), "bb"]);
      assertEquals(imported.code, 1, new TextDecoder().decode(imported.stderr));
      const lines = new TextDecoder().decode(imported.stderr).trim().split("\n");
      assertMatch(lines[0], /^ctr: Cannot extract layer entry "\.\/": fchownat "\.": EPERM$/);
      assertEquals(lines[1], hint);
      const networks = await asNobody(["network", "ls"]);
      assertEquals(networks.code, 1);
      assertStringIncludes(new TextDecoder().decode(networks.stderr), hint);
      // An error that is not a refusal gets no hint.
      const usage = await asNobody(["run", "--memory", "abc", "busybox"]);
      assertEquals(usage.code, 125);
      assertEquals(new TextDecoder().decode(usage.stderr), "ctr: invalid size: 'abc'\n");
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  },
});

// ------------------------------------------------------------------------ bad flag values

/** Arguments, the exit code, and the exact stderr a command must give (nothing created). */
const badFlags: [string[], number, string][] = [
  [["run", "--memory", "abc", "busybox"], 125, "ctr: invalid size: 'abc'"],
  [
    ["run", "-p", "99999:80", "busybox"],
    125,
    "ctr: Invalid host port 99999 in port spec 99999:80: must be 1-65535",
  ],
  [["run", "-p", "80:abc", "busybox"], 125, 'ctr: Invalid container port "abc" in port spec 80:abc'],
  [["run", "--cpus", "-1", "busybox"], 125, 'ctr: invalid argument "-1" for "--cpus" flag'],
  [
    ["run", "-w", "rel", "busybox"],
    125,
    "ctr: the working directory 'rel' is invalid, it needs to be an absolute path",
  ],
  [["run", "-v", ":/x", "busybox"], 125, "ctr: invalid volume specification: ':/x'"],
  [["run", "-v", "/tmp:/x:zz", "busybox"], 125, "ctr: invalid mode: zz"],
  [["run", "-e", "=x", "busybox"], 125, "ctr: invalid environment variable: =x"],
  [
    ["run", "--restart", "bogus", "busybox"],
    125,
    "ctr: invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
  ],
  [
    ["run", "--pids-limit", "x", "busybox"],
    125,
    'ctr: invalid argument "x" for "--pids-limit" flag: not a number\nSee \'ctr run --help\'.',
  ],
  [["kill", "-s", "NOPE", "c1"], 125, "ctr: Invalid signal: NOPE"],
  [
    ["logs", "--since", "garbage", "c1"],
    125,
    'ctr: invalid value for "since": "garbage" is neither a time nor a duration',
  ],
  [
    ["logs", "--until", "garbage", "c1"],
    125,
    'ctr: invalid value for "until": "garbage" is neither a time nor a duration',
  ],
  [["logs", "--tail", "abc", "c1"], 125, 'ctr: invalid value for "tail": abc'],
  [["ps", "--filter", "bogus=1"], 125, "ctr: invalid filter 'bogus'"],
  [
    ["ps", "--filter", "status=bogus"],
    125,
    "ctr: invalid filter 'status=bogus': a status is one of created, restarting, running, removing, paused, exited, dead",
  ],
  [
    ["save", "-o", "/nonexistent/dir/x.tar", "busybox"],
    1,
    'ctr: invalid output path: directory "/nonexistent/dir" does not exist',
  ],
];

Deno.test({
  name: "bad input: bad flag values are refused with Docker's words and nothing is created (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withRoot(async (root) => {
      await importFixture(root, "busybox");
      assertEquals((await ctr(root, ["create", "--name", "c1", "busybox", "true"])).code, 0);
      const before = (await ctr(root, ["ps", "-aq", "--no-trunc"])).stdout;
      for (const [args, code, stderr] of badFlags) {
        const r = await ctr(root, args);
        assertEquals([r.code, r.stderr.trimEnd()], [code, stderr], args.join(" "));
      }
      assertEquals((await ctr(root, ["ps", "-aq", "--no-trunc"])).stdout, before);
    }),
});
