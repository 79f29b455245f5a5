/**
 * ctr → `ctr serve` → ctr round trips: push from one root, pull into an empty one, digests
 * byte-identical and layers unpacked; the same through ctr serve's token flow (htpasswd +
 * `/token`), with a wrong password refused and anonymous pushes denied.
 *
 * @module
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { ctr, type RunResult, withRoot } from "./helpers.ts";
import { buildImage, randomBytes, storeImage } from "./image_builder.ts";
import { withRegistry } from "./registry_helpers.ts";
import { ImageStore } from "../image/image_store.ts";
import { SnapshotStore } from "../image/snapshots.ts";

async function run(root: string, args: string[], stdin?: string): Promise<RunResult> {
  return await ctr(root, args, { env: { DOCKER_CONFIG: `${root}/.docker` }, stdin });
}

async function pulledImage(root: string, name: string) {
  const images = ImageStore.open(root);
  try {
    const img = await images.load(name);
    const snapshots = SnapshotStore.open(root, images);
    return { digest: img.digest, snapshots: snapshots.list().length };
  } finally {
    images.close();
  }
}

const image = () =>
  buildImage([{ "etc/": "", "etc/os-release": "ID=ctr\n" }, { "usr/": "", "usr/big": randomBytes(2 << 20) }]);

Deno.test("serve: ctr push → ctr serve → ctr pull into an empty root", () =>
  withRegistry((reg) =>
    withRoot(async (src) => {
      const img = image();
      const name = `${reg.host}/round/trip:1`;
      await storeImage(src, name, img);
      const pushed = await run(src, ["push", name]);
      assertEquals(pushed.code, 0, pushed.stderr);
      assertStringIncludes(pushed.stdout, `1: digest: ${img.manifest.digest} size: ${img.manifest.size}`);
      // a second repository: the blobs are mounted, not sent again
      await storeImage(src, `${reg.host}/round/copy:1`, img);
      const mounted = await run(src, ["push", `${reg.host}/round/copy:1`]);
      assertEquals(mounted.code, 0, mounted.stderr);
      assertStringIncludes(mounted.stdout, "Mounted from round/trip");
      await withRoot(async (dst) => {
        for (const n of [name, `${reg.host}/round/copy:1`]) {
          const r = await run(dst, ["pull", n]);
          assertEquals(r.code, 0, r.stderr);
          assertStringIncludes(r.stdout, `Digest: ${img.manifest.digest}`);
        }
        const got = await pulledImage(dst, name);
        assertEquals(got, { digest: img.manifest.digest, snapshots: 2 });
        for (const b of [...img.layers, img.config, img.manifest]) {
          assertEquals(await Deno.readFile(`${dst}/blobs/sha256/${b.digest.slice(7)}`), b.bytes);
        }
      });
    })
  ));

Deno.test("serve: token auth — login, wrong password, authenticated push and pull", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctr-test-htpasswd-" });
  try {
    const htpasswd = `${dir}/htpasswd`;
    const out = await new Deno.Command("htpasswd", { args: ["-nbB", "carol", "pa55"], stdout: "piped" })
      .output();
    assert(out.success, "htpasswd (apache2-utils) is needed");
    await Deno.writeFile(htpasswd, out.stdout);
    await withRegistry((reg) =>
      withRoot(async (root) => {
        const img = image();
        const name = `${reg.host}/secure/app:1`;
        await storeImage(root, name, img);
        const anon = await run(root, ["push", name]);
        assertEquals(anon.code, 1);
        assertMatch(anon.stderr, /unauthori[sz]ed|denied|authentication/i);
        const wrong = await run(root, ["login", "-u", "carol", "-p", "nope", reg.host]);
        assertEquals(wrong.code, 1);
        assertMatch(wrong.stderr, /incorrect username or password|unauthori[sz]ed/i);
        const ok = await run(root, ["login", "-u", "carol", "--password-stdin", reg.host], "pa55\n");
        assertEquals(ok.code, 0, ok.stderr);
        const pushed = await run(root, ["push", name]);
        assertEquals(pushed.code, 0, pushed.stderr);
        await withRoot(async (dst) => {
          await Deno.mkdir(`${dst}/.docker`);
          await Deno.copyFile(`${root}/.docker/config.json`, `${dst}/.docker/config.json`);
          const r = await run(dst, ["pull", name]);
          assertEquals(r.code, 0, r.stderr);
          assertEquals((await pulledImage(dst, name)).digest, img.manifest.digest);
        });
      }), {
      htpasswdFile: htpasswd,
      config: {
        auth: {
          htpasswd,
          token: {},
          access: [{ account: "*", repository: "*", actions: ["pull", "push"] }],
        },
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A CA and a server certificate for 127.0.0.1 and localhost, made with openssl. */
async function makePki(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const sh = async (args: string[]) => {
    const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
      .output();
    if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
  };
  await sh([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=ctr-test-ca",
  ]);
  await sh([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "srv.key",
    "-out",
    "srv.csr",
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(
    `${dir}/ext`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
  );
  await sh([
    "x509",
    "-req",
    "-in",
    "srv.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "srv.crt",
    "-days",
    "1",
    "-extfile",
    "ext",
  ]);
  return { ca: `${dir}/ca.crt`, cert: `${dir}/srv.crt`, key: `${dir}/srv.key` };
}

Deno.test("serve: HTTPS registry trusted through <root>/certs.d/<host>/ca.crt", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ctr-test-pki-" });
  try {
    const pki = await makePki(dir);
    await withRegistry((reg) =>
      withRoot(async (root) => {
        const img = image();
        const name = `${reg.host}/tls/app:1`;
        await storeImage(root, name, img);
        const untrusted = await run(root, ["push", name]);
        assertEquals(untrusted.code, 1);
        assertMatch(untrusted.stderr, /certificate|UnknownIssuer/i);
        // The plain-HTTP try at the TLS port is named for what it is, and the way out is given.
        assertStringIncludes(untrusted.stderr, `http://${reg.host}: the server expects HTTPS; https://`);
        assert(!untrusted.stderr.includes("invalid HTTP version"), untrusted.stderr);
        assertStringIncludes(
          untrusted.stderr,
          `put its certificate in certs.d/${reg.host}/ca.crt under the state root or /etc/docker`,
        );
        await Deno.mkdir(`${root}/certs.d/${reg.host}`, { recursive: true });
        await Deno.copyFile(pki.ca, `${root}/certs.d/${reg.host}/ca.crt`);
        const pushed = await run(root, ["push", name]);
        assertEquals(pushed.code, 0, pushed.stderr);
        await withRoot(async (dst) => {
          await Deno.mkdir(`${dst}/certs.d/${reg.host}`, { recursive: true });
          await Deno.copyFile(pki.ca, `${dst}/certs.d/${reg.host}/ca.crt`);
          const r = await run(dst, ["pull", name]);
          assertEquals(r.code, 0, r.stderr);
          assertEquals((await pulledImage(dst, name)).digest, img.manifest.digest);
        });
      }), { tlsCertFile: pki.cert, tlsKeyFile: pki.key });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
