import { assertEquals, assertRejects } from "../../tests/assert.ts";
import {
  authKey,
  encodeBasic,
  eraseCredentials,
  getCredentials,
  keyHost,
  storeCredentials,
} from "./credentials.ts";
import { loginRegistry } from "./login.ts";

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-creds-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("authKey, keyHost and loginRegistry: Docker Hub's historical key", () => {
  assertEquals(authKey("docker.io"), "https://index.docker.io/v1/");
  assertEquals(authKey("registry-1.docker.io"), "https://index.docker.io/v1/");
  assertEquals(authKey("127.0.0.1:5000"), "127.0.0.1:5000");
  assertEquals(keyHost("https://index.docker.io/v1/"), "index.docker.io");
  assertEquals(keyHost("http://h:5000/"), "h:5000");
  assertEquals(keyHost("h:5000"), "h:5000");
  const cases: [string | undefined, string][] = [
    [undefined, "docker.io"],
    ["docker.io", "docker.io"],
    ["https://index.docker.io/v1/", "docker.io"],
    ["registry-1.docker.io", "docker.io"],
    ["http://127.0.0.1:5000/", "127.0.0.1:5000"],
    ["quay.io", "quay.io"],
    ["[::1]:5000", "[::1]:5000"],
  ];
  for (const [input, want] of cases) assertEquals(loginRegistry(input), want, String(input));
});

Deno.test("credentials: auths entries written, read back (also under URL-style keys), erased", () =>
  withDir(async (dir) => {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({ psFormat: "x", auths: { "other:1": { auth: "b3RoZXI6cHc=" } } }),
    );
    assertEquals(await getCredentials("127.0.0.1:5000", path), undefined);
    await storeCredentials("127.0.0.1:5000", { username: "ü", password: "p:w" }, path);
    const doc = JSON.parse(await Deno.readTextFile(path));
    assertEquals(doc.psFormat, "x", "other keys kept");
    assertEquals(doc.auths["127.0.0.1:5000"], { auth: encodeBasic("ü", "p:w") });
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    assertEquals(await getCredentials("127.0.0.1:5000", path), { username: "ü", password: "p:w" });
    assertEquals(await getCredentials("other:1", path), { username: "other", password: "pw" });
    // keys written by other tools with a scheme and path
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: encodeBasic("hub", "h"), identitytoken: "refresh" },
          "http://h:9/": { username: "u", password: "p" },
        },
      }),
    );
    assertEquals(await getCredentials("docker.io", path), {
      username: "hub",
      password: "h",
      identityToken: "refresh",
    });
    assertEquals(await getCredentials("h:9", path), { username: "u", password: "p" });
    assertEquals(await eraseCredentials("h:9", path), true);
    assertEquals(await eraseCredentials("h:9", path), false);
    assertEquals(Object.keys(JSON.parse(await Deno.readTextFile(path)).auths), [
      "https://index.docker.io/v1/",
    ]);
    await Deno.writeTextFile(path, "{not json");
    await assertRejects(() => getCredentials("h:9", path), SyntaxError, path);
    await Deno.writeTextFile(path, JSON.stringify({ auths: { "h:9": { auth: "!!!" } } }));
    await assertRejects(() => getCredentials("h:9", path), TypeError, "not base64");
  }));

Deno.test("credentials: credHelpers win over credsStore; a missing helper is named", () =>
  withDir(async (dir) => {
    const bin = `${dir}/bin`;
    await Deno.mkdir(bin);
    for (const name of ["a", "b"]) {
      await Deno.writeTextFile(
        `${bin}/docker-credential-${name}`,
        `#!/bin/sh\nread -r url\n[ "$1" = get ] && printf '{"ServerURL":"%s","Username":"${name}","Secret":"s-%s"}' "$url" "$url"\n`,
        { mode: 0o755 },
      );
    }
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(path, JSON.stringify({ credsStore: "a", credHelpers: { "special:1": "b" } }));
    const oldPath = Deno.env.get("PATH") ?? "";
    Deno.env.set("PATH", `${bin}:${oldPath}`);
    try {
      assertEquals(await getCredentials("plain:1", path), { username: "a", password: "s-plain:1" });
      assertEquals(await getCredentials("special:1", path), { username: "b", password: "s-special:1" });
      assertEquals(await getCredentials("docker.io", path), {
        username: "a",
        password: "s-https://index.docker.io/v1/",
      });
      await Deno.writeTextFile(path, JSON.stringify({ credsStore: "nonexistent-helper" }));
      await assertRejects(() => getCredentials("x:1", path), Error, "docker-credential-nonexistent-helper");
    } finally {
      Deno.env.set("PATH", oldPath);
    }
  }));
