/**
 * Volumes, binds, tmpfs and `cp` end to end; a pty with -t; the Debian image.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr } from "./helpers.ts";
import { importFixtureImage } from "./fixture_image.ts";
import { ok, rootTest } from "./runtime_helpers.ts";

rootTest(
  "runtime: named volumes persist across containers; in-use volumes are kept; ls/inspect/rm/prune",
  async ({ root, image }) => {
    assertEquals((await ok(root, ["volume", "create", "--label", "k=v", "data"])).trim(), "data");
    await ok(root, ["run", "--rm", "-v", "data:/data", image, "sh", "-c", "echo kept > /data/f"]);
    assertEquals(await ok(root, ["run", "--rm", "-v", "data:/data:ro", image, "cat", "/data/f"]), "kept\n");
    const ro = await ctr(root, ["run", "--rm", "-v", "data:/data:ro", image, "touch", "/data/g"]);
    assert(ro.code !== 0);
    const info = JSON.parse(await ok(root, ["volume", "inspect", "data"]))[0];
    assertEquals([info.Name, info.Driver, info.Scope, info.Labels], ["data", "local", "local", { k: "v" }]);
    assertEquals(info.Mountpoint, `${root}/volumes/data/_data`);
    assertEquals(await Deno.readTextFile(`${info.Mountpoint}/f`), "kept\n");
    assertStringIncludes(await ok(root, ["volume", "ls"]), "data");
    assertEquals((await ok(root, ["volume", "ls", "-q", "--filter", "label=k=v"])).trim(), "data");
    await ok(root, ["create", "--name", "user", "-v", "data:/data", image, "true"]);
    const inUse = await ctr(root, ["volume", "rm", "data"]);
    assert(inUse.code !== 0);
    assertMatch(inUse.stderr, /volume is in use/);
    await ok(root, ["rm", "user"]);
    await ok(root, ["volume", "rm", "data"]);
    assertEquals((await ok(root, ["volume", "ls", "-q"])).trim(), "");
    // -v NAME creates the volume on first use.
    await ok(root, ["run", "--rm", "-v", "auto:/x", image, "true"]);
    assertEquals((await ok(root, ["volume", "ls", "-q"])).trim(), "auto");
    await ok(root, ["volume", "rm", "auto"]);
  },
);

rootTest(
  "runtime: an image VOLUME gets the image's content; rm -v removes the anonymous volume",
  async ({ root }) => {
    const image = await importFixtureImage(root, "busybox", { Volumes: { "/etc": {} } });
    await ok(root, [
      "run",
      "--name",
      "v1",
      image,
      "sh",
      "-c",
      "cat /etc/passwd > /dev/null && echo ok > /etc/added",
    ]);
    const vols = (await ok(root, ["volume", "ls", "-q"])).trim().split("\n");
    assertEquals(vols.length, 1);
    assertMatch(vols[0], /^[0-9a-f]{64}$/);
    assertEquals(await Deno.readTextFile(`${root}/volumes/${vols[0]}/_data/added`), "ok\n");
    assertStringIncludes(await Deno.readTextFile(`${root}/volumes/${vols[0]}/_data/passwd`), "root:x:0:0");
    const mounts = JSON.parse(await ok(root, ["inspect", "-f", "{{json .Mounts}}", "v1"]));
    assertEquals(mounts[0].Destination, "/etc");
    await ok(root, ["rm", "-v", "v1"]);
    assertEquals((await ok(root, ["volume", "ls", "-q"])).trim(), "");
    // Anonymous volumes of --rm containers go with them.
    await ok(root, ["run", "--rm", "-v", "/scratch", image, "true"]);
    assertEquals((await ok(root, ["volume", "ls", "-q"])).trim(), "");
  },
);

rootTest("runtime: bind mounts (read-only enforced) and --mount tmpfs", async ({ root, image }) => {
  const dir = await Deno.makeTempDir({ dir: root });
  await Deno.writeTextFile(`${dir}/in`, "from host\n");
  assertEquals(await ok(root, ["run", "--rm", "-v", `${dir}:/h:ro`, image, "cat", "/h/in"]), "from host\n");
  const w = await ctr(root, [
    "run",
    "--rm",
    "--mount",
    `type=bind,src=${dir},dst=/h,readonly`,
    image,
    "touch",
    "/h/x",
  ]);
  assert(w.code !== 0);
  await ok(root, ["run", "--rm", "-v", `${dir}:/h`, image, "sh", "-c", "echo back > /h/out"]);
  assertEquals(await Deno.readTextFile(`${dir}/out`), "back\n");
  const t = await ok(root, [
    "run",
    "--rm",
    "--mount",
    "type=tmpfs,dst=/t,tmpfs-size=1m",
    image,
    "sh",
    "-c",
    "df -k /t | tail -1 | awk '{print $2}'; grep ' /t ' /proc/mounts | cut -d' ' -f3",
  ]);
  assertEquals(t, "1024\ntmpfs\n");
});

rootTest(
  "runtime: cp in both directions, running and stopped, resolving paths inside the container",
  async ({ root, image }) => {
    const host = await Deno.makeTempDir({ dir: root });
    await Deno.mkdir(`${host}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${host}/tree/sub/f`, "file in tree\n");
    await Deno.writeTextFile(`${host}/one`, "one\n");
    await ok(root, [
      "run",
      "-d",
      "--name",
      "cp1",
      "--hostname",
      "inside",
      image,
      "sh",
      "-c",
      "ln -s / /up; sleep 600",
    ]);
    await new Promise((r) => setTimeout(r, 300));
    await ok(root, ["cp", `${host}/one`, "cp1:/tmp/one"]);
    await ok(root, ["cp", `${host}/tree`, "cp1:/tmp"]);
    assertEquals(
      await ok(root, ["exec", "cp1", "cat", "/tmp/one", "/tmp/tree/sub/f"]),
      "one\nfile in tree\n",
    );
    assertEquals((await ok(root, ["exec", "cp1", "stat", "-c", "%u", "/tmp/one"])).trim(), "0");
    // A symlink to / inside the container resolves to the container's root, not the host's.
    await ok(root, ["cp", "cp1:/up/etc/hostname", `${host}/hostname`]);
    assertEquals(await Deno.readTextFile(`${host}/hostname`), "inside\n");
    await ok(root, ["cp", "cp1:/tmp/tree/.", `${host}/copy`]);
    assertEquals(await Deno.readTextFile(`${host}/copy/sub/f`), "file in tree\n");
    const missing = await ctr(root, ["cp", "cp1:/nope", `${host}/x`]);
    assert(missing.code !== 0);
    assertMatch(missing.stderr, /Could not find the file \/nope in container cp1/);
    // Stopped: the overlay is mounted for the copy and unmounted after.
    await ok(root, ["stop", "-t", "0", "cp1"]);
    await ok(root, ["cp", `${host}/one`, "cp1:/tmp/two"]);
    await ok(root, ["cp", "cp1:/tmp/two", `${host}/two`]);
    assertEquals(await Deno.readTextFile(`${host}/two`), "one\n");
    assert(
      !(await Deno.readTextFile("/proc/self/mountinfo")).includes(`${root}/containers`),
      "nothing stays mounted",
    );
    await ok(root, ["start", "cp1"]);
    assertEquals(await ok(root, ["exec", "cp1", "cat", "/tmp/two"]), "one\n");
    await ok(root, ["rm", "-f", "cp1"]);
  },
);

rootTest("runtime: -t gives the container a pty as its controlling terminal", async ({ root, image }) => {
  const r = await ctr(root, [
    "run",
    "--rm",
    "-t",
    image,
    "sh",
    "-c",
    "tty; echo $TERM; ls -l /dev/console | cut -c1",
  ]);
  assertEquals(r.code, 0);
  assertEquals(r.stdout.replaceAll("\r\n", "\n"), "/dev/pts/0\nxterm\nc\n");
  await ok(root, ["run", "-d", "--name", "t1", "-t", image, "sh", "-c", "sleep 600"]);
  const e = await ctr(root, ["exec", "-t", "t1", "tty"]);
  assertMatch(e.stdout, /^\/dev\/pts\/\d+\r?\n$/);
  await ok(root, ["rm", "-f", "t1"]);
});

rootTest("runtime: the Debian image runs with its own users and files", async ({ root }) => {
  const out = await ok(root, [
    "run",
    "--rm",
    "-u",
    "nobody",
    "debian",
    "sh",
    "-c",
    "id -un; cat /etc/debian_version; ls /usr/bin/apt",
  ]);
  const [user, version, apt] = out.trim().split("\n");
  assertEquals(user, "nobody");
  assertMatch(version, /^12\./);
  assertEquals(apt, "/usr/bin/apt");
  assertEquals(
    (await ok(root, ["run", "--rm", "--init", "debian", "bash", "-c", "echo $((6*7))"])).trim(),
    "42",
  );
}, { debian: true });
