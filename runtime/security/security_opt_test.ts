import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { DEFAULT_SECCOMP_PROFILE } from "../../ffi/seccomp/default_profile.ts";
import { parseSecurityOpts } from "./security_opt.ts";

const files: Record<string, string> = {
  "/p/ok.json":
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}',
  "/p/bad.json": '{"defaultAction":"SCMP_ACT_WHAT"}',
};
const readFile = (p: string) => {
  if (!(p in files)) throw Object.assign(new Error("no"), { code: "ENOENT" });
  return files[p];
};

Deno.test("security-opt: defaults are the default profile, no_new_privs and masked paths", () => {
  const o = parseSecurityOpts([]);
  assertEquals([o.seccomp === DEFAULT_SECCOMP_PROFILE, o.seccompSource, o.noNewPrivileges, o.maskPaths], [
    true,
    "default",
    true,
    true,
  ]);
  const p = parseSecurityOpts([], { privileged: true });
  assertEquals([p.seccomp, p.seccompSource, p.maskPaths], [null, "unconfined", false]);
});

Deno.test("security-opt: Docker's spellings", () => {
  const table: [string[], Partial<ReturnType<typeof parseSecurityOpts>>][] = [
    [["seccomp=unconfined"], { seccomp: null, seccompSource: "unconfined" }],
    [["seccomp:unconfined"], { seccompSource: "unconfined" }],
    [["seccomp=/p/ok.json"], { seccompSource: "/p/ok.json" }],
    [["no-new-privileges"], { noNewPrivileges: true }],
    [["no-new-privileges=false"], { noNewPrivileges: false }],
    [["no-new-privileges:true"], { noNewPrivileges: true }],
    [["systempaths=unconfined"], { maskPaths: false }],
    [["apparmor=unconfined", "label=disable", "label:disable"], { seccompSource: "default" }],
  ];
  for (const [values, want] of table) {
    const got = parseSecurityOpts(values, { readFile });
    for (const [k, v] of Object.entries(want)) assertEquals(got[k as keyof typeof got], v, `${values} ${k}`);
  }
  assertEquals(parseSecurityOpts(["seccomp=/p/ok.json"], { readFile }).seccomp?.syscalls[0].names, ["mkdir"]);
  // An explicit profile applies even to a privileged container.
  assertEquals(
    parseSecurityOpts(["seccomp=/p/ok.json"], { readFile, privileged: true }).seccompSource,
    "/p/ok.json",
  );
});

Deno.test("security-opt: refusals name the value or the file", () => {
  const table: [string, ErrorConstructor, string][] = [
    ["seccomp=/p/missing.json", TypeError, 'Cannot read seccomp profile "/p/missing.json": ENOENT'],
    [
      "seccomp=/p/bad.json",
      SyntaxError,
      'Invalid seccomp profile "/p/bad.json": defaultAction: unknown action',
    ],
    ["seccomp", TypeError, 'Invalid --security-opt: "seccomp"'],
    ["no-new-privileges=maybe", TypeError, "no-new-privileges takes true or false"],
    ["apparmor=docker-default", TypeError, "no AppArmor"],
    ["label=type:svirt_t", TypeError, "no SELinux"],
    ["bogus=1", TypeError, 'Invalid --security-opt: "bogus=1"'],
  ];
  for (const [value, cls, msg] of table) {
    assertThrows(() => parseSecurityOpts([value], { readFile }), cls, msg);
  }
});
