/**
 * `ctr run` end to end on real namespaces: isolation (PID 1, ps, hostname, network, host
 * files), exit codes (own, 126, 127), image config and flags (env, user, workdir,
 * entrypoint, stdin), and case 24 (a missing WORKDIR is created inside the container; a
 * relative one is refused before anything exists).
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr } from "./helpers.ts";
import { importFixtureImage } from "./fixture_image.ts";
import { hostSnapshot, inspectField, ok, rootTest } from "./runtime_helpers.ts";

rootTest("runtime: run --rm echo hi prints hi, and leaves no container", async ({ root, image }) => {
  const r = await ctr(root, ["run", "--rm", image, "echo", "hi"]);
  assertEquals([r.code, r.stdout, r.stderr], [0, "hi\n", ""]);
  assertEquals(await ok(root, ["ps", "-aq"]), "");
});

rootTest(
  "runtime: PID 1 is the command, ps sees only the container, hostname and network are its own",
  async ({ root, image }) => {
    const out = await ok(root, [
      "run",
      "--rm",
      "--hostname",
      "box1",
      // Only its own loopback (the default bridge network would add eth0).
      "--network",
      "none",
      image,
      "sh",
      "-c",
      "echo pid=$$; ps -o pid,comm | tail -n +2 | wc -l; hostname; cat /etc/hostname; ls /sys/class/net; ip -o link 2>/dev/null | wc -l",
    ]);
    const lines = out.trim().split("\n");
    assertEquals(lines[0], "pid=1");
    // sh, ps, tail and wc of the pipeline: nothing from the host.
    assert(Number(lines[1]) <= 4, `ps saw ${lines[1]} processes`);
    assertEquals(lines.slice(2, 5), ["box1", "box1", "lo"]);
  },
);

rootTest("runtime: host files outside the rootfs and volumes cannot be reached", async ({ root, image }) => {
  const marker = await Deno.makeTempFile({ prefix: "ctr-host-secret-" });
  try {
    const out = await ok(root, [
      "run",
      "--rm",
      image,
      "sh",
      "-c",
      `ls ${marker} 2>&1; cat /proc/1/root${marker} 2>&1; ls /; cd /..; pwd; ls -a /proc/1/root/ | wc -l`,
    ]);
    assertStringIncludes(out, "No such file or directory");
    assert(!out.includes(marker.split("/").at(-1)! + "\n"), "the host file is visible");
    const rootList = out.split("\n").slice(2).join(" ");
    for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp"]) assertStringIncludes(rootList, d);
    assert(!rootList.includes("vmlinuz"), "the host's / is visible");
  } finally {
    await Deno.remove(marker);
  }
});

rootTest(
  "runtime: exit codes pass through; 127 not found, 126 not executable, with Docker's messages",
  async ({ root, image }) => {
    assertEquals((await ctr(root, ["run", "--rm", image, "sh", "-c", "exit 42"])).code, 42);
    const nf = await ctr(root, ["run", "--rm", image, "no-such-command"]);
    assertEquals(nf.code, 127);
    assertMatch(nf.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
    const ne = await ctr(root, ["run", "--rm", image, "/etc/passwd"]);
    assertEquals(ne.code, 126);
    assertMatch(ne.stderr, /permission denied/);
    const dir = await ctr(root, ["run", "--rm", image, "/etc"]);
    assertEquals(dir.code, 126);
    // A failed start of a named container keeps it, created, with the exit code (as Docker).
    const kept = await ctr(root, ["run", "--name", "nf", image, "nope"]);
    assertEquals(kept.code, 127);
    assertEquals(await inspectField(root, "nf", "{{.State.Status}} {{.State.ExitCode}}"), "created 127");
    assertEquals((await ctr(root, ["run", "--rm", "no-such-image"])).code, 125);
  },
);

rootTest("runtime: a failed start leaves no mount, cgroup or container behind", async ({ root, image }) => {
  await ok(root, ["run", "--rm", image, "true"]); // supervisor and warm init up
  const before = await hostSnapshot(root);
  for (
    const args of [
      ["run", "--rm", image, "nope"],
      ["run", "--rm", "-u", "nobody-here", image, "true"],
      ["run", "--rm", "-v", "/definitely/not/here:/x", image, "true"],
      ["run", "--rm", "--memory", "32m", "--pids-limit", "10", image, "/etc"],
    ]
  ) {
    const r = await ctr(root, args);
    assert(r.code >= 125, `${args.join(" ")} → ${r.code}`);
  }
  const after = await hostSnapshot(root);
  assertEquals(after.mounts, before.mounts);
  assertEquals(after.cgroups, before.cgroups);
  assertEquals(await ok(root, ["ps", "-aq"]), "");
  assertEquals([...Deno.readDirSync(`${root}/containers`)].length, 0);
});

rootTest(
  "runtime: env, env-file, user, group-add, entrypoint, workdir and stdin",
  async ({ root, image }) => {
    const envFile = `${root}/env.list`;
    await Deno.writeTextFile(envFile, "# comment\nFROM_FILE=yes\nB=file\n");
    const out = await ok(root, [
      "run",
      "--rm",
      "-e",
      "A=1",
      "-e",
      "B=flag",
      "--env-file",
      envFile,
      image,
      "sh",
      "-c",
      'echo "$A $B $FROM_FILE $HOSTNAME"; echo $PATH; echo $HOME',
    ]);
    const [vars, path, home] = out.trim().split("\n");
    assertMatch(vars, /^1 flag yes [0-9a-f]{12}$/);
    assertEquals(path, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    assertEquals(home, "/root");
    assertEquals(
      (await ok(root, ["run", "--rm", "-u", "app", image, "id"])).trim(),
      "uid=1000(app) gid=1000(app) groups=1000(app)",
    );
    assertEquals((await ok(root, ["run", "--rm", "-u", "1234:5678", image, "id", "-u"])).trim(), "1234");
    assertMatch(
      (await ok(root, ["run", "--rm", "-u", "app", "--group-add", "nogroup", image, "id", "-G"])).trim(),
      /^1000 65534$/,
    );
    assertEquals((await ok(root, ["run", "--rm", "--entrypoint", "echo", image, "a", "b"])).trim(), "a b");
    assertEquals((await ok(root, ["run", "--rm", "-w", "/tmp", image, "pwd"])).trim(), "/tmp");
    assertEquals(await ok(root, ["run", "--rm", "-i", image, "cat"], { stdin: "piped in\n" }), "piped in\n");
    // Without -i the container's stdin is /dev/null.
    assertEquals(await ok(root, ["run", "--rm", image, "cat"], { stdin: "ignored\n" }), "");
  },
);

rootTest(
  "runtime: case 24 — a missing -w is created in the container as root 0755, never on the host",
  async ({ root, image }) => {
    const hostHad = await Deno.stat("/does").then(() => true, () => false);
    const r = await ctr(root, [
      "run",
      "--rm",
      "-w",
      "/does/not/exist",
      image,
      "sh",
      "-c",
      'pwd; stat -c "%u:%g %a" /does/not/exist',
    ]);
    assertEquals([r.code, r.stdout], [0, "/does/not/exist\n0:0 755\n"]);
    assertEquals(await Deno.stat("/does").then(() => true, () => false), hostHad);
    const rel = await ctr(root, ["run", "--rm", "-w", "relative/dir", image, "pwd"]);
    assertEquals(rel.code, 125);
    assertMatch(rel.stderr, /working directory 'relative\/dir' is invalid, it needs to be an absolute path/);
    assertEquals(await ok(root, ["ps", "-aq"]), "");
    // The image's WORKDIR, absent from its rootfs, is created too (config WorkingDir=/app).
    const t24 = await importFixtureImage(root, "busybox", { WorkingDir: "/app" });
    assertEquals(await ok(root, ["run", "--rm", t24, "pwd"]), "/app\n");
  },
);

rootTest(
  "runtime: --read-only root, --tmpfs, shm size, ulimit, and the standard /dev",
  async ({ root, image }) => {
    const out = await ok(root, [
      "run",
      "--rm",
      "--read-only",
      "--tmpfs",
      "/scratch:size=1m",
      "--shm-size",
      "8m",
      "--ulimit",
      "nofile=512:1024",
      image,
      "sh",
      "-c",
      "touch /x 2>/dev/null && echo rootfs-writable; touch /scratch/y && echo tmpfs-ok; df -k /dev/shm | tail -1 | awk '{print $2}'; ulimit -n; ls /dev | tr '\\n' ' '; echo; readlink /dev/ptmx",
    ]);
    const lines = out.trim().split("\n");
    assertEquals(lines[0], "tmpfs-ok");
    assertEquals(lines[1], "8192");
    assertEquals(lines[2], "512");
    for (
      const d of ["null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd", "stdin"]
    ) {
      assertStringIncludes(` ${lines[3]} `, ` ${d} `);
    }
    assertEquals(lines[4], "pts/ptmx");
  },
);
