/**
 * Real clients against `ctr serve` on loopback: skopeo (copy to and from `oci:` layouts and
 * `docker-archive:`, inspect, list-tags, delete, with Basic and token auth), podman, and
 * docker through an isolated dockerd (push, pull, login with the token flow). A push pulled
 * back gives byte-identical blobs.
 *
 * @module
 */
import bcrypt from "bcryptjs";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { buildImage, randomBytes } from "./image_builder.ts";
import { skopeo, writeOciLayout } from "./peers/distribution.ts";
import { canRunDockerd, startDockerd } from "./peers/dockerd.ts";
import { http, withRegistry } from "./registry_helpers.ts";
import { parseConfig } from "../registry/config.ts";

const has = (cmd: string) =>
  new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).outputSync().success;
const HAVE_SKOPEO = has("skopeo");
const HAVE_PODMAN = has("podman") && Deno.uid() === 0;

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "ctr-clients-" });
}

async function writeHtpasswd(file: string, users: Record<string, string>): Promise<void> {
  const lines = Object.entries(users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5)}`);
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
}

/** Blob files of an OCI layout, digest → bytes. */
async function layoutBlobs(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(`${dir}/blobs/sha256`)) {
    out.set(`sha256:${e.name}`, await Deno.readFile(`${dir}/blobs/sha256/${e.name}`));
  }
  return out;
}

Deno.test({
  name:
    "registry clients: skopeo copy oci → registry → oci is byte-identical; inspect, list-tags, docker-archive, delete",
  ignore: !HAVE_SKOPEO,
  fn: () =>
    withRegistry(async (reg) => {
      const dir = await tempDir();
      try {
        const img = buildImage([{ "etc/": "", "etc/hello": "hello\n" }, {
          "data.bin": randomBytes(3 * 1024 * 1024),
        }]);
        await writeOciLayout(`${dir}/src`, img, "v1");
        const ref = `docker://${reg.host}/team/app`;
        await skopeo(["copy", "--dest-tls-verify=false", `oci:${dir}/src:v1`, `${ref}:v1`]);
        // The registry holds exactly what was pushed.
        const m = await http(reg.url, "GET", "/v2/team/app/manifests/v1", {
          headers: { Accept: img.manifest.mediaType },
        });
        assertEquals(m.body, img.manifest.bytes);

        const inspect = JSON.parse(await skopeo(["inspect", "--tls-verify=false", `${ref}:v1`]));
        assertEquals(inspect.Digest, img.manifest.digest);
        assertEquals(inspect.Layers, img.layers.map((l) => l.digest));
        const raw = await skopeo(["inspect", "--raw", "--tls-verify=false", `${ref}:v1`]);
        assertEquals(raw, new TextDecoder().decode(img.manifest.bytes));

        await skopeo(["copy", "--src-tls-verify=false", "--dest-tls-verify=false", `${ref}:v1`, `${ref}:v2`]);
        await skopeo([
          "copy",
          "--src-tls-verify=false",
          "--dest-tls-verify=false",
          `${ref}:v1`,
          `docker://${reg.host}/other/app:v1`,
        ]);
        const tags = JSON.parse(await skopeo(["list-tags", "--tls-verify=false", ref]));
        assertEquals(tags.Tags, ["v1", "v2"]);

        await skopeo(["copy", "--src-tls-verify=false", `${ref}:v1`, `oci:${dir}/back:v1`]);
        const back = await layoutBlobs(`${dir}/back`);
        for (const b of [...img.layers, img.config, img.manifest]) {
          assertEquals(back.get(b.digest), b.bytes, `blob ${b.digest} is byte-identical`);
        }

        // docker-archive out and back in (skopeo converts the manifest; layers stay intact).
        await skopeo([
          "copy",
          "--src-tls-verify=false",
          `${ref}:v1`,
          `docker-archive:${dir}/img.tar:team/app:v1`,
        ]);
        await skopeo([
          "copy",
          "--dest-tls-verify=false",
          `docker-archive:${dir}/img.tar`,
          `${ref}:from-archive`,
        ]);
        const fromArchive = JSON.parse(
          await skopeo(["inspect", "--tls-verify=false", `${ref}:from-archive`]),
        );
        assertEquals(fromArchive.Os, "linux");
        assertEquals(fromArchive.Layers.length, 2);

        await skopeo(["delete", "--tls-verify=false", `${ref}:v2`]);
        const gone = await new Deno.Command("skopeo", {
          args: ["inspect", "--tls-verify=false", `${ref}:v2`],
          stdout: "null",
          stderr: "piped",
        }).output();
        assert(!gone.success, "deleted");
        assertStringIncludes(new TextDecoder().decode(gone.stderr), "manifest unknown");
        const left = JSON.parse(await skopeo(["list-tags", "--tls-verify=false", ref]));
        assertEquals(left.Tags, ["from-archive"], "deleting by digest removed v1 and v2, which shared it");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }),
});

Deno.test({
  name: "registry clients: skopeo with htpasswd Basic auth and with the token flow",
  ignore: !HAVE_SKOPEO,
  fn: async () => {
    const dir = await tempDir();
    try {
      await writeHtpasswd(`${dir}/htpasswd`, { alice: "secret" });
      const img = buildImage([{ "a": "b" }]);
      await writeOciLayout(`${dir}/src`, img, "v1");
      for (const mode of ["basic", "token"]) {
        const config = mode === "token"
          ? parseConfig(`auth:\n  htpasswd: ${dir}/htpasswd\n  token: {}\n`)
          : parseConfig(`auth:\n  htpasswd: ${dir}/htpasswd\n`);
        await withRegistry(async (reg) => {
          const ref = `docker://${reg.host}/t/auth:v1`;
          const denied = await new Deno.Command("skopeo", {
            args: ["copy", "--dest-tls-verify=false", `oci:${dir}/src:v1`, ref],
            stdout: "null",
            stderr: "piped",
          }).output();
          assert(!denied.success, `${mode}: anonymous push refused`);
          await skopeo([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:secret",
            `oci:${dir}/src:v1`,
            ref,
          ]);
          const inspect = JSON.parse(
            await skopeo(["inspect", "--tls-verify=false", "--creds", "alice:secret", ref]),
          );
          assertEquals(inspect.Digest, img.manifest.digest, mode);
        }, { config });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "registry clients: podman push and pull (root)",
  ignore: !HAVE_PODMAN || !HAVE_SKOPEO,
  fn: () =>
    withRegistry(async (reg) => {
      const dir = await tempDir();
      const podman = async (args: string[]) => {
        const out = await new Deno.Command("podman", {
          args: [
            "--root",
            `${dir}/storage`,
            "--runroot",
            `${dir}/run`,
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
            ...args,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert(out.success, `podman ${args.join(" ")}: ${text}`);
        return text;
      };
      try {
        const img = buildImage([{ "etc/": "", "etc/os-release": "ID=test\n" }]);
        await writeOciLayout(`${dir}/src`, img, "v1");
        await skopeo([
          "copy",
          "--dest-tls-verify=false",
          `oci:${dir}/src:v1`,
          `docker://${reg.host}/t/pod:v1`,
        ]);
        await podman(["pull", "--tls-verify=false", `${reg.host}/t/pod:v1`]);
        await podman(["tag", `${reg.host}/t/pod:v1`, `${reg.host}/t/pod:v2`]);
        await podman(["push", "--tls-verify=false", `${reg.host}/t/pod:v2`]);
        const tags = JSON.parse(
          await skopeo(["list-tags", "--tls-verify=false", `docker://${reg.host}/t/pod`]),
        );
        assertEquals(tags.Tags, ["v1", "v2"]);
        const layer = img.layers[0].digest;
        const r = await http(reg.url, "HEAD", `/v2/t/pod/blobs/${layer}`);
        assertEquals(r.status, 200);
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }),
});

Deno.test({
  name:
    "registry clients: docker push, pull and login with the token flow through an isolated dockerd (root)",
  ignore: !canRunDockerd() || !HAVE_SKOPEO,
  sanitizeResources: false,
  fn: async () => {
    const dir = await tempDir();
    const dockerd = await startDockerd();
    try {
      const img = buildImage([{ "bin/": "", "bin/hello": "#!/bin/sh\necho hi\n" }, {
        "data.bin": randomBytes(2 * 1024 * 1024),
      }]);
      await writeOciLayout(`${dir}/src`, img, "v1");
      let local = "";
      await withRegistry(async (reg) => {
        // Seeded by skopeo as Docker schema 2, then everything else through docker.
        await skopeo([
          "copy",
          "--format",
          "v2s2",
          "--dest-tls-verify=false",
          `oci:${dir}/src:v1`,
          `docker://${reg.host}/seed/app:v1`,
        ]);
        const seed = await dockerd.docker(["pull", `${reg.host}/seed/app:v1`]);
        assertEquals(seed.code, 0, seed.stderr);
        const name = `${reg.host}/team/dock:1`;
        assertEquals((await dockerd.docker(["tag", `${reg.host}/seed/app:v1`, name])).code, 0);
        const push = await dockerd.docker(["push", name]);
        assertEquals(push.code, 0, push.stderr + push.stdout);
        const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)![1];
        // Another repository: docker mounts the layers across (201) instead of uploading.
        assertEquals((await dockerd.docker(["tag", name, `${reg.host}/team/copy:1`])).code, 0);
        const copy = await dockerd.docker(["push", `${reg.host}/team/copy:1`]);
        assertEquals(copy.code, 0, copy.stderr);
        assertStringIncludes(copy.stdout, "Mounted from");

        assertEquals(
          (await dockerd.docker(["rmi", name, `${reg.host}/team/copy:1`, `${reg.host}/seed/app:v1`])).code,
          0,
        );
        const pull = await dockerd.docker(["pull", name]);
        assertEquals(pull.code, 0, pull.stderr);
        assertStringIncludes(pull.stdout, digest);
        // The layers docker pushed are the ones built, byte for byte.
        await skopeo(["copy", "--src-tls-verify=false", `docker://${name}`, `oci:${dir}/back:1`]);
        const back = await layoutBlobs(`${dir}/back`);
        for (const l of img.layers) assertEquals(back.get(l.digest), l.bytes, `layer ${l.digest}`);
        local = name;
      });

      await writeHtpasswd(`${dir}/htpasswd`, { alice: "secret" });
      const config = parseConfig(`auth:\n  htpasswd: ${dir}/htpasswd\n  token: { service: ctr-test }\n`);
      await withRegistry(async (reg) => {
        const name = `${reg.host}/alice/app:1`;
        assertEquals((await dockerd.docker(["tag", local, name])).code, 0);
        const anonymous = await dockerd.docker(["push", name]);
        assert(anonymous.code !== 0, "anonymous push refused");
        const bad = await dockerd.docker(["login", "-u", "alice", "-p", "wrong", reg.host]);
        assert(bad.code !== 0, "wrong password refused");
        const login = await dockerd.docker(["login", "-u", "alice", "-p", "secret", reg.host]);
        assertEquals(login.code, 0, login.stderr);
        const push = await dockerd.docker(["push", name]);
        assertEquals(push.code, 0, push.stderr);
        assertEquals((await dockerd.docker(["rmi", name])).code, 0);
        const pull = await dockerd.docker(["pull", name]);
        assertEquals(pull.code, 0, pull.stderr);
      }, { config });
    } finally {
      await dockerd.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
