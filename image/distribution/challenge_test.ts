import { assertEquals } from "../../tests/assert.ts";
import { mergeScopes, parseChallenges, parseScope, repositoryScope, splitScopes } from "./challenge.ts";

const R = "http://127.0.0.1:1/token";

Deno.test("parseChallenges: the variants registries send", () => {
  const cases: [string, ReturnType<typeof parseChallenges>][] = [
    [
      `Bearer realm="${R}",service="reg.test",scope="repository:team/app:pull,push"`,
      [{
        scheme: "bearer",
        params: { realm: R, service: "reg.test", scope: "repository:team/app:pull,push" },
      }],
    ],
    [
      `Bearer realm="${R}",service="reg.test"`,
      [{ scheme: "bearer", params: { realm: R, service: "reg.test" } }],
    ],
    [
      `bearer  realm="${R}" , service="reg.test", scope="repository:team/app:pull repository:team/base:pull"`,
      [{
        scheme: "bearer",
        params: {
          realm: R,
          service: "reg.test",
          scope: "repository:team/app:pull repository:team/base:pull",
        },
      }],
    ],
    [`Basic realm="Registry Realm"`, [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
    [`BASIC REALM=peer`, [{ scheme: "basic", params: { realm: "peer" } }]],
    [`Basic`, [{ scheme: "basic", params: {} }]],
    // two challenges joined by Headers with ", "
    [
      `Basic realm="a, b", Bearer realm="${R}",service=x`,
      [
        { scheme: "basic", params: { realm: "a, b" } },
        { scheme: "bearer", params: { realm: R, service: "x" } },
      ],
    ],
    // token68, then another challenge
    [
      `Negotiate abc+/def==, Basic realm=r`,
      [{ scheme: "negotiate", params: {}, token68: "abc+/def==" }, {
        scheme: "basic",
        params: { realm: "r" },
      }],
    ],
    // escaped quotes and backslashes inside quoted strings
    [
      `Bearer realm="a\\"b\\\\c",error="invalid_token"`,
      [{ scheme: "bearer", params: { realm: 'a"b\\c', error: "invalid_token" } }],
    ],
    // BWS around "=" and a trailing comma
    [`Bearer realm = "x" ,`, [{ scheme: "bearer", params: { realm: "x" } }]],
    // empty quoted value
    [`Bearer realm="",service=""`, [{ scheme: "bearer", params: { realm: "", service: "" } }]],
    ["", []],
    [" , ,", []],
    // scope with a host:port inside the name
    [
      `Bearer scope="repository:127.0.0.1:5000/x:pull"`,
      [{ scheme: "bearer", params: { scope: "repository:127.0.0.1:5000/x:pull" } }],
    ],
  ];
  for (const [input, want] of cases) assertEquals(parseChallenges(input), want, input);
});

Deno.test("parseScope and splitScopes", () => {
  assertEquals(parseScope("repository:team/app:pull,push"), {
    type: "repository",
    name: "team/app",
    actions: ["pull", "push"],
  });
  assertEquals(parseScope("repository:host:5000/x:pull"), {
    type: "repository",
    name: "host:5000/x",
    actions: ["pull"],
  });
  assertEquals(parseScope("registry:catalog:*"), { type: "registry", name: "catalog", actions: ["*"] });
  assertEquals(parseScope("nonsense"), undefined);
  assertEquals(splitScopes(" a:b:c  d:e:f "), ["a:b:c", "d:e:f"]);
  assertEquals(splitScopes(undefined), []);
});

Deno.test("mergeScopes: challenge scopes kept, operation scopes added when not covered", () => {
  const cases: [string[], string[], string[]][] = [
    [[], ["repository:a:pull"], ["repository:a:pull"]],
    [["repository:a:pull,push"], ["repository:a:pull"], ["repository:a:pull,push"]],
    [["repository:a:pull"], ["repository:a:pull,push"], ["repository:a:pull,push"]],
    [
      ["repository:a:pull", "repository:b:pull"],
      ["repository:a:pull"],
      ["repository:a:pull", "repository:b:pull"],
    ],
    [["repository:a:pull"], ["repository:c:pull"], ["repository:a:pull", "repository:c:pull"]],
    [
      [],
      ["repository:a:pull,push", "repository:src:pull"],
      ["repository:a:pull,push", "repository:src:pull"],
    ],
  ];
  for (const [challenged, needed, want] of cases) {
    assertEquals(mergeScopes(challenged, needed), want, `${challenged} + ${needed}`);
  }
  assertEquals(repositoryScope("t/a", "pull"), "repository:t/a:pull");
  assertEquals(repositoryScope("t/a", "push"), "repository:t/a:pull,push");
});
