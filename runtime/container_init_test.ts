import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { CLONE, MNT, MS } from "../ffi/constants.ts";
import { InitError, setupContainer } from "./container_init.ts";
import { defaultMounts, type InitSpec } from "./init_spec.ts";
import type { InitSyscalls } from "./init_syscalls.ts";
import type { PathKind } from "./user_lookup.ts";

/** A fake kernel: records every call; files and links of an imaginary rootfs at /c/rootfs. */
function fake(options: {
  files?: Record<string, string>;
  dirs?: string[];
  links?: Record<string, string>;
  executables?: string[];
} = {}) {
  const calls: string[] = [];
  const dirs = new Set(["/", "/c/rootfs", ...(options.dirs ?? [])]);
  const files = { ...(options.files ?? {}) };
  const rec = (s: string) => calls.push(s);
  let pivoted = false;
  const inRoot = (p: string) => (pivoted ? p : p.replace(/^\/c\/rootfs/, "") || "/");
  const sys: InitSyscalls = {
    unshare: (f) => rec(`unshare 0x${f.toString(16)}`),
    setns: (fd, t) => rec(`setns ${fd} 0x${t.toString(16)}`),
    openRead: (p) => (rec(`openRead ${p}`), 10),
    openWrite: (p) => (rec(`openWrite ${p}`), 11),
    openPty: () => (rec("openPty"), { master: 13, slave: 12, path: "/dev/pts/0" }),
    handOverPty: (m) => rec(`handOverPty ${m}`),
    close: () => {},
    mount: (src, target, type, flags, data) =>
      rec(`mount ${src} ${target} ${type} ${flags}${data ? ` ${data}` : ""}`),
    umount: (t, f) => rec(`umount ${t} ${f}`),
    pivotRoot: (a, b) => {
      pivoted = true;
      rec(`pivot_root ${a} ${b}`);
    },
    chdir: (p) => rec(`chdir ${p}`),
    sethostname: (n) => rec(`sethostname ${n}`),
    setdomainname: (n) => rec(`setdomainname ${n}`),
    lstatKind: (p) => (dirs.has(inRoot(p)) ? "directory" : inRoot(p) in files ? "file" : null),
    statKind: (p) => (dirs.has(pivoted ? p : p) ? "directory" : p in files ? "file" : null),
    executableKind: (p): PathKind =>
      (options.executables ?? ["/bin/sh"]).includes(p)
        ? "executable"
        : p in files
        ? "not-executable"
        : dirs.has(p)
        ? "directory"
        : "missing",
    readlink: (p) => options.links?.[p] ?? null,
    mkdirAll: (p) => {
      dirs.add(p);
      rec(`mkdirAll ${p}`);
    },
    touch: (p) => rec(`touch ${p}`),
    readTextFile: (p) => files[p] ?? null,
    writeTextFile: (p) => rec(`write ${p}`),
    mknod: (p) => rec(`mknod ${p}`),
    chmod: () => {},
    symlink: (t, p) => rec(`symlink ${p} -> ${t}`),
    loopbackUp: () => rec("lo up"),
    setrlimit: (r, s) => rec(`rlimit ${r} ${s}`),
    setsid: () => rec("setsid"),
    setControllingTerminal: (fd) => rec(`ctty ${fd}`),
    dup2: (a, b) => rec(`dup2 ${a} ${b}`),
    write: (fd, t) => rec(`write fd ${fd} ${t}`),
    umask: () => rec("umask"),
    confine: (_plan, user) => rec(`confine ${user.uid}:${user.gid} ${user.groups.join(",")}`),
    resetSignals: () => rec("reset signals"),
    cloexecFrom: () => rec("cloexec"),
    execve: () => {
      throw new Error("not in tests");
    },
    chownFd: (fd, uid) => rec(`chown fd ${fd} ${uid}`),
  };
  return { sys, calls };
}

const PLAN = {
  uid: 0,
  gid: 0,
  groups: [],
  capabilities: { bounding: "0x0", effective: "0x0", permitted: "0x0", inheritable: "0x0", ambient: "0x0" },
  noNewPrivileges: true,
  seccomp: null,
  seccompFlags: 0,
};

function spec(overrides: Partial<InitSpec> = {}, process: Partial<InitSpec["process"]> = {}): InitSpec {
  return {
    mode: "create",
    rootfs: {
      kind: "overlay",
      lowerDirs: ["/s/a", "/s/b"],
      upperDir: "/c/upper",
      workDir: "/c/work",
      target: "/c/rootfs",
    },
    hostname: "box",
    network: "none",
    mounts: defaultMounts({ shmSize: 1 << 20 }),
    maskedPaths: ["/proc/kcore"],
    readonlyPaths: ["/proc/sys"],
    process: {
      args: ["sh", "-c", "true"],
      env: ["A=1"],
      cwd: "/",
      user: "",
      groupAdd: [],
      terminal: false,
      stdin: false,
      rlimits: [],
      init: false,
      ...process,
    },
    confinement: PLAN,
    ...overrides,
  };
}

const PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";

Deno.test("init: namespaces first, then every mount private before any mount", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  setupContainer(spec(), sys);
  const flags = CLONE.FS | CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWCGROUP | CLONE.NEWNET;
  assertEquals(calls[0], `unshare 0x${flags.toString(16)}`);
  assertEquals(calls[1], `mount null / null ${MS.REC | MS.PRIVATE}`);
  assertEquals(
    calls[2],
    "mount overlay /c/rootfs overlay 0 lowerdir=/s/a:/s/b,upperdir=/c/upper,workdir=/c/work",
  );
});

Deno.test("init: /proc before the masked paths, everything before pivot_root, loopback after it", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD }, dirs: ["/proc/sys"] });
  setupContainer(spec(), sys);
  const at = (prefix: string) => calls.findIndex((c) => c.startsWith(prefix));
  assert(at("mount proc /c/rootfs/proc") < at("mount /c/rootfs/proc/sys /c/rootfs/proc/sys"));
  assert(at("sethostname box") < at("pivot_root"));
  assertEquals(calls.slice(at("pivot_root") - 1, at("pivot_root") + 3), [
    "chdir /c/rootfs",
    "pivot_root . .",
    `umount . ${MNT.DETACH}`,
    "chdir /",
  ]);
  assert(at("lo up") > at("pivot_root"));
  assert(at("mknod /c/rootfs/dev/null") > at("mount tmpfs /c/rootfs/dev tmpfs"));
});

Deno.test("init: case 24 — a missing WORKDIR is made after pivot_root (inside the container), as root 0755", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  setupContainer(spec({}, { cwd: "/does/not/exist" }), sys);
  const mk = calls.indexOf("mkdirAll /does/not/exist");
  assert(mk > calls.indexOf("pivot_root . ."), "created in the container, not on the host path");
  assertEquals(calls[mk + 1], "chdir /does/not/exist");
});

Deno.test("init: a read-only root is remounted after the WORKDIR exists", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  setupContainer(spec({ readonlyRootfs: true }, { cwd: "/app" }), sys);
  const ro = calls.indexOf(`mount null / null ${MS.BIND | MS.REMOUNT | MS.RDONLY}`);
  assert(ro > calls.indexOf("mkdirAll /app"));
});

Deno.test("init: user and groups resolved in the container's files, confinement last before signals", () => {
  const { sys, calls } = fake({
    files: { "/etc/passwd": PASSWD, "/etc/group": "app:x:1000:\nextra:x:7:app\n" },
  });
  const exec = setupContainer(spec({}, { user: "app" }), sys);
  const tail = calls.slice(calls.indexOf("setsid"));
  assertEquals(tail, [
    "setsid",
    "openRead /dev/null",
    "dup2 10 0",
    "confine 1000:1000 1000,7",
    "umask",
    "reset signals",
    "cloexec",
  ]);
  assertEquals(exec.path, "/bin/sh");
  assert(exec.env.includes("HOME=/home/app"));
  assert(exec.env.some((e) => e.startsWith("PATH=")));
});

Deno.test("init: command lookup failures carry Docker's codes 127 and 126; unknown users 125", () => {
  const { sys } = fake({ files: { "/etc/passwd": PASSWD, "/etc/passwd2": "" } });
  const nf = assertThrows(() => setupContainer(spec({}, { args: ["nope"] }), sys), InitError);
  assertEquals(nf.code, 127);
  const ne = assertThrows(
    () =>
      setupContainer(
        spec({}, { args: ["/etc/passwd2"] }),
        fake({ files: { "/etc/passwd": PASSWD, "/etc/passwd2": "" } }).sys,
      ),
    InitError,
  );
  assertEquals(ne.code, 126);
  const nu = assertThrows(
    () => setupContainer(spec({}, { user: "ghost" }), fake({ files: { "/etc/passwd": PASSWD } }).sys),
    InitError,
  );
  assertEquals([nu.code, nu.message], [125, "unable to find user ghost: no matching entries in passwd file"]);
});

Deno.test("init: mount targets are resolved inside the rootfs, even through an escaping symlink", () => {
  const { sys, calls } = fake({
    files: { "/etc/passwd": PASSWD, "/c/hosts": "" },
    links: { "/c/rootfs/etc/hosts": "/../../../host/secret" },
  });
  setupContainer(
    spec({ mounts: [{ destination: "/etc/hosts", type: "bind", source: "/c/hosts", options: ["rbind"] }] }),
    sys,
  );
  assert(calls.some((c) => c.startsWith("mount /c/hosts /c/rootfs/host/secret null")), calls.join("\n"));
});

Deno.test("init: host network joins nothing new; a namespace path is joined with setns", () => {
  const host = fake({ files: { "/etc/passwd": PASSWD } });
  setupContainer(spec({ network: "host" }), host.sys);
  assert(!(Number(host.calls[0].split(" ")[1]) & CLONE.NEWNET));
  assert(!host.calls.includes("lo up"));
  const path = fake({ files: { "/etc/passwd": PASSWD } });
  setupContainer(spec({ network: "/proc/123/fd/7" }), path.sys);
  assertEquals(path.calls.slice(1, 3), [
    "openRead /proc/123/fd/7",
    `setns 10 0x${CLONE.NEWNET.toString(16)}`,
  ]);
});

Deno.test("init: a tty comes from the container's devpts, its master goes to the parent, the slave becomes stdio", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  setupContainer(spec({}, { terminal: true }), sys);
  const p = calls.indexOf("openPty");
  assert(p > calls.indexOf("pivot_root . ."), "allocated inside the container's /dev/pts");
  assertEquals(calls.slice(p + 1, p + 4), [
    "touch /dev/console",
    "mount /dev/pts/0 /dev/console null 4096",
    "handOverPty 13",
  ]);
  const s = calls.indexOf("setsid");
  assertEquals(calls.slice(s, s + 5), ["setsid", "ctty 12", "dup2 12 0", "dup2 12 1", "dup2 12 2"]);
});

Deno.test("init: join mode opens every namespace, then enters them with the mount namespace last", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  setupContainer({ mode: "join", joinPid: 42, process: spec().process, confinement: PLAN }, sys);
  assertEquals(calls.slice(0, 5), [
    "openRead /proc/42/ns/cgroup",
    "openRead /proc/42/ns/ipc",
    "openRead /proc/42/ns/uts",
    "openRead /proc/42/ns/net",
    "openRead /proc/42/ns/mnt",
  ]);
  assertEquals(calls[5], `unshare 0x${CLONE.FS.toString(16)}`);
  assertEquals(calls[10], `setns 10 0x${CLONE.NEWNS.toString(16)}`);
  assert(!calls.some((c) => c.startsWith("mount")), "exec mounts nothing");
});

Deno.test("init: too long overlay data names the layers relative to their common parent", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  const lowerDirs = Array.from(
    { length: 128 },
    (_, i) => `/var/lib/ctr/snapshots/${String(i).padStart(16, "x")}`,
  );
  setupContainer(
    spec({ rootfs: { kind: "overlay", lowerDirs, upperDir: "/c/u", workDir: "/c/w", target: "/c/rootfs" } }),
    sys,
  );
  const i = calls.findIndex((c) => c.startsWith("mount overlay"));
  assertEquals(calls[i - 1], "chdir /var/lib/ctr/snapshots");
  assert(calls[i].includes("lowerdir=" + "x".repeat(15) + "0:"));
});

Deno.test("init: the pids limit is written after setup, right before the confinement", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  setupContainer(spec({ pidsMax: { path: "/sys/fs/cgroup/pids/x/pids.max", value: "20" } }), sys);
  assertEquals(calls[0], "openWrite /sys/fs/cgroup/pids/x/pids.max");
  const w = calls.indexOf("write fd 11 20");
  assert(w > calls.indexOf("pivot_root . .") && w < calls.findIndex((c) => c.startsWith("confine")));
});

const USERNS = {
  uidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
  gidMap: [{ containerId: 0, hostId: 100000, size: 65536 }],
};

Deno.test("init: in a user namespace, devices are bound from the host (mknod is refused there)", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  setupContainer(spec({ userns: USERNS }), sys);
  assert(!calls.some((c) => c.startsWith("mknod")), "no mknod");
  assert(calls.includes("touch /c/rootfs/dev/null"));
  assert(calls.includes(`mount /dev/null /c/rootfs/dev/null null ${MS.BIND}`));
  assert(calls.includes(`mount /dev/urandom /c/rootfs/dev/urandom null ${MS.BIND}`));
});

Deno.test("init: in a user namespace, cgroup v1 views are left out and sysfs falls back to the host's, read-only", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  const mount = sys.mount;
  sys.mount = (src, target, type, flags, data) => {
    if (type === "sysfs") throw new Error("mount sysfs: EPERM");
    mount(src, target, type, flags, data);
  };
  setupContainer(spec({ userns: USERNS, cgroupViews: [{ dir: "memory", options: "memory" }] }), sys);
  assert(!calls.some((c) => / cgroup /.test(c) || c.includes("/sys/fs/cgroup")), "no cgroup v1 mount");
  assert(calls.includes(`mount /sys /c/rootfs/sys null ${MS.BIND | MS.REC}`));
  assert(
    calls.includes(
      `mount null /c/rootfs/sys null ${MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC}`,
    ),
  );
});

Deno.test("init: exec into a user namespace does not join the network namespace (ctr-nsexec did)", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  setupContainer(
    { mode: "join", joinPid: 42, userns: USERNS, process: spec().process, confinement: PLAN },
    sys,
  );
  assertEquals(calls.slice(0, 4), [
    "openRead /proc/42/ns/cgroup",
    "openRead /proc/42/ns/ipc",
    "openRead /proc/42/ns/uts",
    "openRead /proc/42/ns/mnt",
  ]);
  assert(!calls.includes(`setns 10 0x${CLONE.NEWNET.toString(16)}`));
});

Deno.test("init: an exec helper (spawn) joins the pid namespace too, and leaves the session and signals to the spawn", () => {
  const { sys, calls } = fake({ files: { "/etc/passwd": PASSWD } });
  const process = { ...spec().process, terminal: true, user: "app" };
  const exec = setupContainer({ mode: "join", joinPid: 42, spawn: true, process, confinement: PLAN }, sys);
  assertEquals(calls[0], "openRead /proc/42/ns/pid");
  assertEquals(calls[7], `setns 10 0x${CLONE.NEWPID.toString(16)}`);
  // The pty: handed over, given to the user, kept open, not made ours.
  assert(calls.includes("handOverPty 13"));
  assert(calls.includes("chown fd 12 1000"));
  for (const c of ["setsid", "ctty 12", "dup2 12 0", "reset signals"]) assert(!calls.includes(c), c);
  assertEquals(exec.terminal, "/dev/pts/0");
  assert(calls.indexOf("chown fd 12 1000") < calls.findIndex((c) => c.startsWith("confine")));
});
