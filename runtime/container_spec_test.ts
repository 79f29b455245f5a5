import { assert, assertEquals } from "../tests/assert.ts";
import { defaultHostConfig } from "./container_config.ts";
import { buildInitSpec, confinementFor, filterResolvConf, hostsFile, userMounts } from "./container_spec.ts";
import { type Container, containerPaths, initialState } from "./container_store.ts";

function container(
  hc: Partial<Container["HostConfig"]> = {},
  volumes: Container["Config"]["Volumes"] = null,
): Container {
  return {
    Id: "f".repeat(64),
    Name: "x",
    Created: 0,
    ImageId: "sha256:" + "1".repeat(64),
    ImageDigest: "sha256:" + "2".repeat(64),
    Config: {
      Hostname: "ffffffffffff",
      Domainname: "",
      User: "",
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: ["PATH=/bin"],
      Cmd: ["true"],
      Entrypoint: null,
      Image: "busybox",
      Volumes: volumes,
      WorkingDir: "",
      Labels: {},
    },
    HostConfig: { ...defaultHostConfig(), ...hc },
    LowerDirs: ["/s/top", "/s/base"],
    AnonymousVolumes: [],
    VolumeMap: {},
    State: initialState(),
  };
}

Deno.test("spec: user mounts shallowest first; image VOLUMEs not covered by a mount become volumes", () => {
  const c = container({
    Mounts: [
      { Type: "bind", Source: "/h/deep", Target: "/a/b/c", ReadOnly: true },
      { Type: "volume", Source: "v1", Target: "/a", ReadOnly: false },
      { Type: "tmpfs", Source: "", Target: "/t", ReadOnly: false, TmpfsOptions: { SizeBytes: 1024 } },
    ],
  }, { "/a": {}, "/img": {} });
  const m = userMounts(c, new Map([["/a", "/vol/v1"], ["/img", "/vol/anon"]]));
  assertEquals(m.map((x) => x.destination), ["/a", "/t", "/img", "/a/b/c"]);
  assertEquals(m[0], { destination: "/a", type: "bind", source: "/vol/v1", options: ["rbind", "rprivate"] });
  assertEquals(m[3].options, ["rbind", "ro", "rprivate"]);
  assertEquals(m[1].options, ["nosuid", "nodev", "noexec", "size=1024", "mode=1777"]);
});

Deno.test("spec: a container's init spec — overlay, standard mounts, /etc files, confinement", () => {
  const c = container({ ShmSize: 8 << 20, Ulimits: [{ Name: "nofile", Soft: 10, Hard: 20 }] });
  const s = buildInitSpec(c, { paths: containerPaths("/r", c.Id), volumeSources: new Map() });
  assertEquals(s.rootfs, {
    kind: "overlay",
    lowerDirs: ["/s/top", "/s/base"],
    upperDir: `/r/containers/${c.Id}/upper`,
    workDir: `/r/containers/${c.Id}/work`,
    target: `/r/containers/${c.Id}/rootfs`,
  });
  assertEquals(s.mounts!.map((m) => m.destination), [
    "/proc",
    "/dev",
    "/dev/pts",
    "/sys",
    "/sys/fs/cgroup",
    "/dev/mqueue",
    "/dev/shm",
    "/etc/resolv.conf",
    "/etc/hostname",
    "/etc/hosts",
  ]);
  assert(s.mounts!.find((m) => m.destination === "/dev/shm")!.options.includes(`size=${8 << 20}`));
  assertEquals(s.process.rlimits, [{ type: 7, soft: 10, hard: 20 }]);
  assertEquals([s.network, s.hostname], ["none", "ffffffffffff"]);
  assert(s.maskedPaths!.includes("/proc/kcore"));
  assert(s.confinement.seccomp !== null, "Docker's default seccomp profile");
  assertEquals(s.confinement.noNewPrivileges, true);
  const priv = buildInitSpec(container({ Privileged: true }), {
    paths: containerPaths("/r", c.Id),
    volumeSources: new Map(),
  });
  assertEquals([priv.maskedPaths, priv.confinement.seccomp], [[], null]);
  assert(!priv.mounts!.find((m) => m.destination === "/sys")!.options.includes("ro"));
  const host = buildInitSpec(container({ NetworkMode: "host" }), {
    paths: containerPaths("/r", c.Id),
    volumeSources: new Map(),
  });
  assertEquals([host.network, host.hostname], ["host", undefined]);
});

Deno.test("spec: confinement plans are compiled once per setting", () => {
  const a = confinementFor({ CapAdd: ["NET_ADMIN"], CapDrop: [], Privileged: false, SecurityOpt: [] });
  const b = confinementFor({ CapAdd: ["NET_ADMIN"], CapDrop: [], Privileged: false, SecurityOpt: [] });
  assert(a.plan === b.plan);
  const all = confinementFor({ CapAdd: [], CapDrop: [], Privileged: false, SecurityOpt: [] }, {
    allCapabilities: true,
  });
  assert(BigInt(all.plan.capabilities.bounding) > BigInt(a.plan.capabilities.bounding));
});

Deno.test("spec: /etc/hosts and resolv.conf contents", () => {
  assert(hostsFile("web").endsWith("127.0.1.1\tweb\n"));
  assertEquals(
    filterResolvConf("nameserver 127.0.0.53\nnameserver 9.9.9.9\nsearch lan\n"),
    "nameserver 9.9.9.9\nsearch lan\n",
  );
});
