/**
 * The library entry point the image builder uses for RUN: `runOneShot` over an image's
 * snapshots plus a caller-owned upper dir — output, exit codes, writes landing in the upper
 * dir, start failures with Docker's codes, limits, and nothing left mounted.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { IS_ROOT, withRoot } from "./helpers.ts";
import { importFixtureImage } from "./fixture_image.ts";
import { ImageStore } from "../image/image_store.ts";
import { SnapshotStore } from "../image/snapshots.ts";
import { runOneShot } from "../runtime/oneshot.ts";
import { ContainerStartError } from "../runtime/init_process.ts";
import { hostSnapshot } from "./runtime_helpers.ts";
import { cgroupParentFor } from "../runtime/cgroups/mod.ts";

async function lowerDirsOf(root: string, ref: string): Promise<string[]> {
  const images = ImageStore.open(root);
  try {
    return (await SnapshotStore.open(root, images).prepare(await images.load(ref))).lowerDirs;
  } finally {
    images.close();
  }
}

Deno.test({
  name: "runtime: runOneShot runs a RUN step over snapshots; writes land in the caller's upper dir (root)",
  ignore: !IS_ROOT,
  fn: () =>
    withRoot(async (root) => {
      const lowerDirs = await lowerDirsOf(root, await importFixtureImage(root, "busybox"));
      const upperDir = `${root}/build/upper`, workDir = `${root}/build/work`;
      await Deno.mkdir(upperDir, { recursive: true });
      await Deno.mkdir(workDir, { recursive: true });
      const before = await hostSnapshot(root);
      const out: Uint8Array[] = [];
      const r = await runOneShot({
        rootfs: { kind: "overlay", lowerDirs, upperDir, workDir, target: "" },
        args: [
          "/bin/sh",
          "-c",
          "echo hi > /greeting; rm /bin/vi; echo to-stdout; echo to-stderr >&2; exit 3",
        ],
        env: ["A=1"],
        cwd: "/app",
        onStdout: (c) => out.push(c),
      });
      assertEquals(r.exitCode, 3);
      assertEquals(new TextDecoder().decode(out[0]), "to-stdout\n");
      assertEquals(new TextDecoder().decode(r.stderr), "to-stderr\n");
      assertEquals(await Deno.readTextFile(`${upperDir}/greeting`), "hi\n");
      assert((await Deno.lstat(`${upperDir}/bin/vi`)).isCharDevice, "a deletion is an overlay whiteout");
      assert((await Deno.stat(`${upperDir}/app`)).isDirectory, "the missing workdir was created");
      const nf = await assertRejects(
        () =>
          runOneShot({
            rootfs: { kind: "overlay", lowerDirs, upperDir, workDir, target: "" },
            args: ["nope"],
          }),
        ContainerStartError,
      );
      assertEquals(nf.code, 127);
      assertMatch(nf.message, /executable file not found/);
      const oom = await runOneShot({
        rootfs: { kind: "overlay", lowerDirs, upperDir, workDir, target: "" },
        args: ["sh", "-c", 'x=0123456789; while :; do x="$x$x"; done'],
        limits: { Memory: 32 << 20, MemorySwap: 32 << 20 },
        cgroupParent: cgroupParentFor(root),
      });
      assertEquals([oom.exitCode, oom.oomKilled], [137, true]);
      const after = await hostSnapshot(root);
      assertEquals(after.mounts, before.mounts);
      assertEquals(after.cgroups, before.cgroups);
    }),
});
