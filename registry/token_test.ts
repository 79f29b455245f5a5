import { assertEquals, assertThrows } from "../tests/assert.ts";
import { formatScope, parseScope, signToken, type TokenClaims, verifyToken } from "./token.ts";

const key = new TextEncoder().encode("a test key that is long enough");
const now = Math.floor(Date.now() / 1000);
const claims: TokenClaims = {
  iss: "ctr",
  sub: "alice",
  aud: "reg",
  exp: now + 60,
  nbf: now,
  iat: now,
  jti: "1",
  access: [{ type: "repository", name: "a/b", actions: ["pull"] }],
};

Deno.test("token: sign and verify round-trip; tampering, wrong key, issuer, audience and expiry fail", () => {
  const t = signToken(key, claims);
  assertEquals(verifyToken(key, t, { issuer: "ctr", audience: "reg" }), claims);
  const [h, p, s] = t.split(".");
  const evil = btoa(
    JSON.stringify({ ...claims, access: [{ type: "repository", name: "*", actions: ["push"] }] }),
  )
    .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  assertThrows(
    () => verifyToken(key, `${h}.${evil}.${s}`, { issuer: "ctr", audience: "reg" }),
    TypeError,
    "signature",
  );
  assertThrows(
    () => verifyToken(new TextEncoder().encode("other key!"), t, { issuer: "ctr", audience: "reg" }),
    TypeError,
  );
  assertThrows(() => verifyToken(key, t, { issuer: "x", audience: "reg" }), TypeError, "issuer");
  assertThrows(() => verifyToken(key, t, { issuer: "ctr", audience: "x" }), TypeError, "audience");
  assertThrows(
    () => verifyToken(key, t, { issuer: "ctr", audience: "reg", now: (now + 120) * 1000 }),
    TypeError,
    "expired",
  );
  const none = `${btoa('{"alg":"none"}').replace(/=+$/, "")}.${p}.`;
  assertThrows(() => verifyToken(key, none, { issuer: "ctr", audience: "reg" }), TypeError, "algorithm");
  assertThrows(() => verifyToken(key, "garbage", { issuer: "ctr", audience: "reg" }), TypeError);
});

Deno.test("token: scopes", () => {
  assertEquals(parseScope("repository:team/app:pull,push"), {
    type: "repository",
    name: "team/app",
    actions: ["pull", "push"],
  });
  assertEquals(parseScope("registry:catalog:*"), { type: "registry", name: "catalog", actions: ["*"] });
  assertEquals(parseScope("repository:host:5000/app:pull")?.name, "host:5000/app");
  assertEquals(parseScope("nonsense"), undefined);
  assertEquals(
    formatScope({ type: "repository", name: "a", actions: ["pull", "push"] }),
    "repository:a:pull,push",
  );
});
