import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { Authorizer, errorDetail, UnauthorizedError } from "./auth.ts";

/** A token endpoint answering with `answer(url, init)`, recording every request. */
function tokenServer(answer: (url: URL, init?: RequestInit) => Response) {
  const requests: { url: URL; init?: RequestInit }[] = [];
  const f = ((input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input);
    requests.push({ url, init });
    return Promise.resolve(answer(url, init));
  }) as typeof fetch;
  return { fetch: f, requests };
}

const REALM = 'Bearer realm="https://auth.test/token",service="reg"';

Deno.test("Authorizer: no challenge → no header; Basic with and without credentials", async () => {
  const a = new Authorizer("r", { username: "u", password: "p" });
  assertEquals(await a.authorization(["repository:x:pull"]), undefined);
  a.observe('Basic realm="r"');
  assertEquals(await a.authorization([]), `Basic ${btoa("u:p")}`);
  const anon = new Authorizer("r", undefined);
  anon.observe('Basic realm="r"');
  assertEquals(await anon.authorization([]), undefined);
});

Deno.test("Authorizer: one token per scope set, shared by concurrent requests, refreshed at expiry", async () => {
  let n = 0;
  let lifetime = 300;
  const server = tokenServer(() => Response.json({ token: `T${++n}`, expires_in: lifetime }));
  const a = new Authorizer("r", undefined, { fetch: server.fetch });
  a.observe(REALM);
  const scopes = ["repository:team/app:pull"];
  const headers = await Promise.all([1, 2, 3, 4].map(() => a.authorization(scopes)));
  assertEquals(headers, ["Bearer T1", "Bearer T1", "Bearer T1", "Bearer T1"]);
  assertEquals(server.requests.length, 1);
  assertEquals(server.requests[0].url.searchParams.get("service"), "reg");
  assertEquals(server.requests[0].url.searchParams.getAll("scope"), scopes);
  assertEquals(await a.authorization(["repository:other:pull"]), "Bearer T2", "another scope, another token");
  // a token about to expire is replaced
  lifetime = 5;
  a.invalidate();
  assertEquals(await a.authorization(scopes), "Bearer T3");
  assertEquals(await a.authorization(scopes), "Bearer T4", "T3 expires within the safety margin");
});

Deno.test("Authorizer: access_token, credentials, identity tokens and refusals", async () => {
  const s1 = tokenServer(() => Response.json({ access_token: "A" }));
  const a = new Authorizer("r", { username: "u", password: "p" }, { fetch: s1.fetch });
  a.observe(`${REALM},scope="repository:x:pull,push"`);
  assertEquals(await a.authorization(["repository:x:pull"]), "Bearer A");
  const headers = new Headers(s1.requests[0].init?.headers);
  assertEquals(headers.get("authorization"), `Basic ${btoa("u:p")}`);
  assertEquals(s1.requests[0].url.searchParams.getAll("scope"), ["repository:x:pull,push"]);

  const s2 = tokenServer(() => Response.json({ token: "R" }));
  const b = new Authorizer("r", { identityToken: "refresh-me" }, { fetch: s2.fetch });
  b.observe(REALM);
  assertEquals(await b.authorization(["repository:x:pull"]), "Bearer R");
  assertEquals(s2.requests[0].init?.method, "POST");
  const form = new URLSearchParams(String(s2.requests[0].init?.body));
  assertEquals(form.get("grant_type"), "refresh_token");
  assertEquals(form.get("refresh_token"), "refresh-me");
  assertEquals(form.get("scope"), "repository:x:pull");

  const s3 = tokenServer(() =>
    new Response(JSON.stringify({ details: "incorrect username or password" }), { status: 401 })
  );
  const c = new Authorizer("r", { username: "u", password: "bad" }, { fetch: s3.fetch });
  c.observe(REALM);
  await assertRejects(() => c.authorization([]), UnauthorizedError, "incorrect username or password");

  const s4 = tokenServer(() => Response.json({ nothing: true }));
  const d = new Authorizer("r", undefined, { fetch: s4.fetch });
  d.observe(REALM);
  await assertRejects(() => d.authorization([]), Error, "sent no token");
});

Deno.test("Authorizer.observe prefers Bearer and ignores unknown schemes", () => {
  const a = new Authorizer("r", undefined);
  assertEquals(a.observe('Negotiate abc, Basic realm="x", Bearer realm="https://t/"'), true);
  assertEquals(a.scheme, "bearer");
  const b = new Authorizer("r", undefined);
  assertEquals(b.observe("Negotiate abc"), false);
  assertEquals(b.observe(null), false);
  assertEquals(b.scheme, undefined);
});

Deno.test("errorDetail: registry and OAuth error bodies", () => {
  assertEquals(
    errorDetail('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'),
    "manifest unknown: manifest unknown",
  );
  assertEquals(errorDetail('{"error":"invalid_grant","error_description":"bad"}'), "invalid_grant: bad");
  assertEquals(errorDetail("plain text"), "plain text");
  assertEquals(errorDetail("<html>…</html>"), undefined);
  assertEquals(errorDetail(""), undefined);
});
