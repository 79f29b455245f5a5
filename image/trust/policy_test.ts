import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { parsePolicy, requirementsFor } from "./policy.ts";

const policy = parsePolicy(
  JSON.stringify({
    default: [{ type: "reject" }],
    transports: {
      docker: {
        "h:5000/team/app": [{ type: "sigstoreSigned", keyPath: "/k.pub" }],
        "h:5000/team": [{ type: "sigstoreSigned", keys: ["a", "b"], keyPaths: ["/x.pub"] }],
        "h:5000": [{ type: "insecureAcceptAnything" }],
      },
      oci: { "/x": [{ type: "insecureAcceptAnything" }] },
    },
  }),
  "p.json",
);

Deno.test("policy: the most specific scope wins, then the host, then default", () => {
  const table: [string, string, string][] = [
    ["h:5000/team/app", "h:5000/team/app", "sigstoreSigned"],
    ["h:5000/team/app/sub", "h:5000/team/app", "sigstoreSigned"],
    ["h:5000/team/other", "h:5000/team", "sigstoreSigned"],
    ["h:5000/teams", "h:5000", "insecureAcceptAnything"],
    ["h:5001/team/app", "default", "reject"],
    ["docker.io/library/busybox", "default", "reject"],
  ];
  for (const [repo, scope, type] of table) {
    const r = requirementsFor(policy, repo);
    assertEquals([r.scope, r.requirements[0].type], [scope, type], repo);
  }
  assertEquals(requirementsFor(policy, "h:5000/team/x").requirements[0], {
    type: "sigstoreSigned",
    keyPaths: ["/x.pub"],
    keyData: [],
    keys: ["a", "b"],
  });
});

Deno.test("policy: no default means accept anything; the empty scope is the transport default", () => {
  const p = parsePolicy(JSON.stringify({ transports: { docker: { "": [{ type: "reject" }] } } }), "p");
  assertEquals(requirementsFor(p, "h/x").requirements, [{ type: "reject" }]);
  assertEquals(requirementsFor(parsePolicy("{}", "p"), "h/x").requirements, [{
    type: "insecureAcceptAnything",
  }]);
});

Deno.test("policy: bad files are refused naming the file and the place", () => {
  assertThrows(() => parsePolicy("{", "p.json"), SyntaxError, "p.json");
  assertThrows(() => parsePolicy("[]", "p.json"), TypeError, "not a JSON object");
  assertThrows(
    () => parsePolicy('{"default": []}', "p.json"),
    TypeError,
    "p.json: default: must be a non-empty",
  );
  assertThrows(
    () => parsePolicy('{"default": [{"type": "signedBy"}]}', "p.json"),
    TypeError,
    'default[0]: unknown requirement type "signedBy"',
  );
  assertThrows(
    () => parsePolicy('{"default": [{"type": "sigstoreSigned"}]}', "p.json"),
    TypeError,
    "needs keyPath",
  );
  assertThrows(
    () => parsePolicy('{"default": [{"type": "sigstoreSigned", "keyPath": "/k", "fulcio": {}}]}', "p.json"),
    TypeError,
    "keyless",
  );
  assertThrows(
    () => parsePolicy('{"transports": {"docker": {"h/x:1": [{"type": "reject"}]}}}', "p.json"),
    TypeError,
    "tags and digests",
  );
});
