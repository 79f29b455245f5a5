/**
 * Authentication and authorization of `ctr serve`: htpasswd Basic auth, the bearer-token
 * flow with its built-in endpoint, per-repository grants, read-only mode, TLS, and the
 * in-flight limit (UNAUTHORIZED, DENIED, UNSUPPORTED, TOOMANYREQUESTS).
 *
 * @module
 */
import bcrypt from "bcryptjs";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { errorCode, http, makeImage, pushImage, withRegistry } from "./registry_helpers.ts";
import { parseConfig } from "../registry/config.ts";
import { signToken } from "../registry/token.ts";
import { digestOf } from "../image/digest.ts";

const enc = new TextEncoder();

async function htpasswdFile(dir: string, users: Record<string, string>): Promise<string> {
  // $2y$ is what `htpasswd -B` writes; the registry must accept it.
  const lines = Object.entries(users).map(([u, p]) =>
    `${u}:${bcrypt.hashSync(p, 4).replace(/^\$2b\$/, "$2y$")}`
  );
  const file = `${dir}/htpasswd`;
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  return file;
}

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${btoa(`${user}:${password}`)}` };
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-auth-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("registry auth: htpasswd Basic auth — 401 with a challenge, wrong password, then access", () =>
  withTempDir(async (dir) => {
    const file = await htpasswdFile(dir, { alice: "wonderland" });
    await withRegistry(async (reg) => {
      const none = await http(reg.url, "GET", "/v2/");
      assertEquals([none.status, errorCode(none)], [401, "UNAUTHORIZED"]);
      assertEquals(none.headers.get("www-authenticate"), 'Basic realm="ctr-registry"');
      assertEquals(none.headers.get("docker-distribution-api-version"), "registry/2.0");
      const wrong = await http(reg.url, "GET", "/v2/", { headers: basic("alice", "nope") });
      assertEquals(wrong.status, 401);
      const ghost = await http(reg.url, "GET", "/v2/", { headers: basic("bob", "wonderland") });
      assertEquals(ghost.status, 401);
      const ok = await http(reg.url, "GET", "/v2/", { headers: basic("alice", "wonderland") });
      assertEquals(ok.status, 200);
      const img = makeImage();
      const denied = await http(reg.url, "POST", `/v2/t/a/blobs/uploads/?digest=${digestOf(img.config)}`, {
        body: img.config as Uint8Array<ArrayBuffer>,
      });
      assertEquals([denied.status, errorCode(denied)], [401, "UNAUTHORIZED"]);
      const up = await http(reg.url, "POST", `/v2/t/a/blobs/uploads/?digest=${digestOf(img.config)}`, {
        body: img.config as Uint8Array<ArrayBuffer>,
        headers: basic("alice", "wonderland"),
      });
      assertEquals(up.status, 201);
    }, { htpasswdFile: file });
  }));

Deno.test("registry auth: access rules give each account its repositories (403 DENIED otherwise)", () =>
  withTempDir(async (dir) => {
    const file = await htpasswdFile(dir, { alice: "a", bob: "b" });
    const config = parseConfig(`
auth:
  access:
    - { account: "*", repository: "\${account}/*", actions: ["*"] }
    - { account: bob, repository: "alice/*", actions: [pull] }
`);
    await withRegistry(async (reg) => {
      const img = makeImage();
      const put = async (user: string, repo: string) => {
        const d = digestOf(img.config);
        return await http(reg.url, "POST", `/v2/${repo}/blobs/uploads/?digest=${d}`, {
          body: img.config as Uint8Array<ArrayBuffer>,
          headers: basic(user, user[0]),
        });
      };
      assertEquals((await put("alice", "alice/app")).status, 201);
      const denied = await put("bob", "alice/app");
      assertEquals([denied.status, errorCode(denied)], [403, "DENIED"]);
      assertEquals((await put("bob", "bob/app")).status, 201);
      const pull = await http(reg.url, "HEAD", `/v2/alice/app/blobs/${digestOf(img.config)}`, {
        headers: basic("bob", "b"),
      });
      assertEquals(pull.status, 200, "bob may pull alice/*");
      const del = await http(reg.url, "DELETE", `/v2/alice/app/blobs/${digestOf(img.config)}`, {
        headers: basic("bob", "b"),
      });
      assertEquals([del.status, errorCode(del)], [403, "DENIED"]);
      const cat = await http(reg.url, "GET", "/v2/_catalog", { headers: basic("alice", "a") });
      assertEquals([cat.status, errorCode(cat)], [403, "DENIED"], "the catalog needs pull on *");
      // Mounting needs pull on the source: bob cannot mount from carol/* (no grant), so 202.
      const mount = await http(
        reg.url,
        "POST",
        `/v2/bob/app/blobs/uploads/?mount=${digestOf(img.config)}&from=alice/app`,
        {
          headers: basic("bob", "b"),
        },
      );
      assertEquals(mount.status, 201, "bob may pull alice/app, so the mount works");
      const noMount = await http(
        reg.url,
        "POST",
        `/v2/alice/other/blobs/uploads/?mount=${digestOf(img.config)}&from=bob/app`,
        { headers: basic("alice", "a") },
      );
      assertEquals(noMount.status, 202, "alice may not pull bob/app: fall back to an upload");
    }, { htpasswdFile: file, config });
  }));

Deno.test("registry auth: bearer tokens from the built-in endpoint, scopes, expiry and forgery", () =>
  withTempDir(async (dir) => {
    const file = await htpasswdFile(dir, { alice: "a", bob: "b" });
    const secret = `${dir}/token.key`;
    await Deno.writeTextFile(secret, "0123456789abcdef0123456789abcdef\n");
    const config = parseConfig(`
auth:
  htpasswd: ${file}
  token:
    service: test-registry
    issuer: test-issuer
    expiration: 2s
    secret_file: ${secret}
  access:
    - { account: alice, repository: "*", actions: [pull, push, delete] }
    - { account: bob, repository: "team/*", actions: [pull] }
    - { account: anonymous, repository: "public/*", actions: [pull] }
`);
    await withRegistry(async (reg) => {
      const v2 = await http(reg.url, "GET", "/v2/");
      assertEquals([v2.status, errorCode(v2)], [401, "UNAUTHORIZED"]);
      assertEquals(
        v2.headers.get("www-authenticate"),
        `Bearer realm="${reg.url}/token",service="test-registry"`,
      );
      const img = makeImage();
      const m = await http(reg.url, "GET", "/v2/team/app/manifests/1");
      assertEquals(
        m.headers.get("www-authenticate"),
        `Bearer realm="${reg.url}/token",service="test-registry",scope="repository:team/app:pull"`,
      );

      const token = async (scope: string, headers: Record<string, string> = {}) => {
        const r = await http(
          reg.url,
          "GET",
          `/token?service=test-registry&scope=${encodeURIComponent(scope)}`,
          {
            headers,
          },
        );
        return r;
      };
      const t1 = await token("repository:team/app:pull,push", basic("alice", "a"));
      assertEquals(t1.status, 200);
      const body = t1.json as { token: string; access_token: string; expires_in: number; issued_at: string };
      assertEquals(body.token, body.access_token);
      assertEquals(body.expires_in, 2);
      const claims = JSON.parse(atob(body.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      assertEquals(claims.access, [{ type: "repository", name: "team/app", actions: ["pull", "push"] }]);
      assertEquals([claims.iss, claims.aud, claims.sub], ["test-issuer", "test-registry", "alice"]);
      const bearer = { Authorization: `Bearer ${body.token}` };
      for (const b of [img.config, ...img.layers]) {
        const r = await http(reg.url, "POST", `/v2/team/app/blobs/uploads/?digest=${digestOf(b)}`, {
          body: b as Uint8Array<ArrayBuffer>,
          headers: bearer,
        });
        assertEquals(r.status, 201);
      }
      const put = await http(reg.url, "PUT", "/v2/team/app/manifests/1", {
        body: img.manifest as Uint8Array<ArrayBuffer>,
        headers: { ...bearer, "Content-Type": img.mediaType },
      });
      assertEquals(put.status, 201);
      // The token is for team/app only.
      const other = await http(reg.url, "GET", "/v2/team/other/tags/list", { headers: bearer });
      assertEquals(other.status, 401);
      assertMatch(other.headers.get("www-authenticate")!, /error="insufficient_scope"/);

      // bob asks for push but gets pull only.
      const t2 = await token("repository:team/app:pull,push", basic("bob", "b"));
      const bob = { Authorization: `Bearer ${(t2.json as { token: string }).token}` };
      assertEquals((await http(reg.url, "GET", "/v2/team/app/manifests/1", { headers: bob })).status, 200);
      const bobPush = await http(reg.url, "DELETE", "/v2/team/app/manifests/1", { headers: bob });
      assertEquals([bobPush.status, errorCode(bobPush)], [401, "UNAUTHORIZED"]);

      // Wrong password at the token endpoint; anonymous tokens get only public/*.
      assertEquals((await token("repository:team/app:pull", basic("bob", "x"))).status, 401);
      const anon = await token("repository:team/app:pull");
      assertEquals(anon.status, 200);
      const anonClaims = JSON.parse(
        atob((anon.json as { token: string }).token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")),
      );
      assertEquals(anonClaims.access, []);
      assertEquals((await token("repository:x:pull", {})).status, 200);
      const wrongService = await http(reg.url, "GET", "/token?service=other&scope=repository:x:pull");
      assertEquals(wrongService.status, 400);

      // OAuth2 password grant (containerd's first try).
      const form = await http(reg.url, "POST", "/token", {
        body: new URLSearchParams({
          grant_type: "password",
          username: "alice",
          password: "a",
          service: "test-registry",
          scope: "registry:catalog:* repository:team/app:pull",
        }).toString(),
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      });
      assertEquals(form.status, 200);
      const cat = await http(reg.url, "GET", "/v2/_catalog", {
        headers: { Authorization: `Bearer ${(form.json as { access_token: string }).access_token}` },
      });
      assertEquals([cat.status, cat.json], [200, { repositories: ["team/app"] }]);

      // Forged: right claims, wrong key.
      const now = Math.floor(Date.now() / 1000);
      const forged = signToken(enc.encode("another key of enough length!!"), {
        iss: "test-issuer",
        sub: "alice",
        aud: "test-registry",
        exp: now + 60,
        nbf: now,
        iat: now,
        jti: "x",
        access: [{ type: "repository", name: "team/app", actions: ["pull"] }],
      });
      const f = await http(reg.url, "GET", "/v2/team/app/manifests/1", {
        headers: { Authorization: `Bearer ${forged}` },
      });
      assertEquals(f.status, 401);
      // Expired.
      await new Promise((r) => setTimeout(r, 3100));
      const late = await http(reg.url, "GET", "/v2/team/app/manifests/1", { headers: bearer });
      assertEquals([late.status, errorCode(late)], [401, "UNAUTHORIZED"]);
    }, { config });
  }));

Deno.test("registry: --read-only refuses every write with 405 UNSUPPORTED and still serves reads", async () => {
  const root = await Deno.makeTempDir({ prefix: "ctr-ro-test-" });
  try {
    const img = makeImage();
    await withRegistry(async (reg) => {
      await pushImage(reg.url, "t/ro", "1", img);
    }, { root });
    await withRegistry(async (reg) => {
      assertEquals((await http(reg.url, "GET", "/v2/t/ro/manifests/1")).body, img.manifest);
      for (
        const [method, path] of [
          ["POST", "/v2/t/ro/blobs/uploads/"],
          ["PUT", "/v2/t/ro/manifests/2"],
          ["DELETE", "/v2/t/ro/manifests/1"],
          ["DELETE", `/v2/t/ro/blobs/${digestOf(img.config)}`],
        ]
      ) {
        const r = await http(
          reg.url,
          method,
          path,
          method === "PUT" ? { body: img.manifest as Uint8Array<ArrayBuffer> } : {},
        );
        assertEquals([r.status, errorCode(r)], [405, "UNSUPPORTED"], `${method} ${path}`);
      }
    }, { root, readOnly: true });
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("registry: beyond the in-flight limit requests get 429 TOOMANYREQUESTS with Retry-After", () =>
  withRegistry(async (reg) => {
    const s = await http(reg.url, "POST", "/v2/t/slow/blobs/uploads/");
    // Hold one request open: a PATCH whose body trickles.
    let push!: (b: Uint8Array) => void, close!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        push = (b) => c.enqueue(b);
        close = () => c.close();
      },
    });
    const slow = fetch(reg.url + s.headers.get("location"), { method: "PATCH", body });
    push(enc.encode("first"));
    await new Promise((r) => setTimeout(r, 200));
    const r = await http(reg.url, "GET", "/v2/");
    assertEquals([r.status, errorCode(r)], [429, "TOOMANYREQUESTS"]);
    assertEquals(r.headers.get("retry-after"), "1");
    close();
    const done = await slow;
    assertEquals(done.status, 202);
    await done.body?.cancel();
    assertEquals((await http(reg.url, "GET", "/v2/")).status, 200);
  }, { maxInFlight: 1 }));

Deno.test("registry: TLS with --tls-cert/--tls-key", () =>
  withTempDir(async (dir) => {
    const gen = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert(gen.success, new TextDecoder().decode(gen.stderr));
    await withRegistry(async (reg) => {
      assertMatch(reg.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/cert.pem`)] });
      try {
        const r = await fetch(`${reg.url}/v2/`, { client });
        assertEquals(r.status, 200);
        assertEquals(r.headers.get("docker-distribution-api-version"), "registry/2.0");
        await r.body?.cancel();
      } finally {
        client.close();
      }
      // Plain HTTP on the TLS port does not work.
      const plain = await fetch(reg.url.replace("https", "http") + "/v2/").then(
        (r) => r.status,
        () => "error",
      );
      assert(plain !== 200, "plain HTTP is refused");
    }, { tlsCertFile: `${dir}/cert.pem`, tlsKeyFile: `${dir}/key.pem` });
  }));
