import { assertEquals, assertThrows } from "../tests/assert.ts";
import { type CreateRequest, defaultHostConfig, mergeEnv, mergeImageConfig } from "./container_config.ts";
import type { ImageConfig } from "../image/oci.ts";

const image: ImageConfig = {
  architecture: "amd64",
  os: "linux",
  rootfs: { type: "layers", diff_ids: [] },
  config: {
    Env: ["PATH=/img/bin", "LANG=C"],
    Entrypoint: ["/entry"],
    Cmd: ["serve"],
    WorkingDir: "/app",
    User: "app",
    StopSignal: "SIGQUIT",
    Volumes: { "/data": {} },
    Labels: { from: "image" },
  },
};

function req(overrides: Partial<CreateRequest> = {}): CreateRequest {
  return {
    name: "",
    image: "img",
    cmd: [],
    env: [],
    labels: {},
    tty: false,
    openStdin: false,
    hostConfig: defaultHostConfig(),
    ...overrides,
  };
}

Deno.test("mergeImageConfig: the image's settings unless the user overrides them", () => {
  const c = mergeImageConfig(req(), image, "abcdefabcdef");
  assertEquals([c.Entrypoint, c.Cmd, c.WorkingDir, c.User, c.StopSignal], [
    ["/entry"],
    ["serve"],
    "/app",
    "app",
    "SIGQUIT",
  ]);
  assertEquals(c.Env, ["HOSTNAME=abcdefabcdef", "PATH=/img/bin", "LANG=C"]);
  assertEquals(c.Hostname, "abcdefabcdef");
  assertEquals(c.Volumes, { "/data": {} });
  const o = mergeImageConfig(
    req({
      cmd: ["x"],
      env: ["LANG=en", "NEW=1"],
      workingDir: "/w",
      user: "0",
      stopSignal: "SIGINT",
      hostname: "h",
      labels: { k: "v" },
      tty: true,
    }),
    image,
    "abcdefabcdef",
  );
  assertEquals([o.Entrypoint, o.Cmd, o.WorkingDir, o.User, o.StopSignal, o.Hostname], [
    ["/entry"],
    ["x"],
    "/w",
    "0",
    "SIGINT",
    "h",
  ]);
  assertEquals(o.Env, ["HOSTNAME=h", "PATH=/img/bin", "LANG=en", "NEW=1", "TERM=xterm"]);
  assertEquals(o.Labels, { from: "image", k: "v" });
});

Deno.test("mergeImageConfig: --entrypoint drops the image's Cmd; an empty one clears it; nothing left is an error", () => {
  assertEquals(mergeImageConfig(req({ entrypoint: "sh" }), image, "x").Cmd, []);
  const cleared = mergeImageConfig(req({ entrypoint: "", cmd: ["ls"] }), image, "x");
  assertEquals([cleared.Entrypoint, cleared.Cmd], [null, ["ls"]]);
  assertThrows(
    () => mergeImageConfig(req({ entrypoint: "" }), image, "x"),
    TypeError,
    "No command specified",
  );
  const bare = { ...image, config: {} };
  assertEquals(
    mergeImageConfig(req({ cmd: ["true"] }), bare, "x").Env[1],
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  );
});

Deno.test("mergeEnv: later keys replace earlier ones in place", () => {
  assertEquals(mergeEnv(["A=1", "B=2"], ["B=3", "C=4", "A=5"]), ["A=5", "B=3", "C=4"]);
});
