/**
 * Real seccomp: a Deno probe installs the filter on its main thread (keeping root's
 * capabilities, so that a refusal can only come from the filter), makes raw syscalls, then
 * execs busybox commands that must be refused or must work.
 */
import { assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { IS_ROOT, REPO } from "../../tests/helpers.ts";
import { DEFAULT_CAPABILITIES } from "../../runtime/security/capabilities.ts";
import { SYSCALLS_X86_64 } from "./syscall_tables.ts";

const X86_64 = Deno.build.arch === "x86_64";

async function probe(spec: Record<string, unknown>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}/tests/probes/exec_confined.ts`, JSON.stringify(spec)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

const nr = (name: string) => SYSCALLS_X86_64[name];

Deno.test({
  name: "seccomp (root): the default filter refuses what Docker's refuses and runs busybox",
  ignore: !IS_ROOT || !X86_64,
  async fn() {
    const calls: [string, number, number[], string][] = [
      ["getpid", nr("getpid"), [], "ok"],
      ["keyctl(GET_KEYRING_ID, session)", nr("keyctl"), [0, -3, 0], "EPERM"],
      ["unshare(CLONE_NEWUTS)", nr("unshare"), [0x04000000], "EPERM"],
      ["mount(NULL…)", nr("mount"), [0, 0, 0, 0, 0], "EPERM"],
      ["reboot(bad magic)", nr("reboot"), [0, 0, 0, 0], "EPERM"],
      ["init_module(NULL)", nr("init_module"), [0, 0, 0], "EPERM"],
      ["add_key(NULL)", nr("add_key"), [0, 0, 0, 0, 0], "EPERM"],
      ["personality(PER_BSD)", nr("personality"), [6], "EPERM"],
      ["personality(query)", nr("personality"), [0xffffffff], "ok"],
      ["socket(AF_VSOCK)", nr("socket"), [40, 1, 0], "EPERM"],
      ["socket(AF_UNIX)", nr("socket"), [1, 1, 0], "ok"],
      ["clone3(NULL)", nr("clone3"), [0, 0], "ENOSYS"],
      ["syscall 471", 471, [], "ENOSYS"],
    ];
    const r = await probe({
      noNewPrivs: true,
      seccomp: { profile: "default", caps: DEFAULT_CAPABILITIES },
      syscallsAfter: calls.map(([, n, args]) => ({ nr: n, args })),
      argv: [
        "/bin/busybox",
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; unshare -u true 2>&1; mount -t tmpfs none /mnt 2>&1; " +
        "ls / >/dev/null && echo ls-ok; echo piped | cat; sh -c 'echo child-ok'",
      ],
    });
    assertEquals(r.code, 0, r.stderr);
    const [json, ...lines] = r.stdout.split("\n");
    const results: string[] = JSON.parse(json);
    calls.forEach(([what, , , want], i) => assertEquals(results[i].replace(/^ok:.*/, "ok"), want, what));
    const text = lines.join("\n");
    assertStringIncludes(text, "Seccomp:\t2");
    assertStringIncludes(text, "unshare: unshare(0x4000000): Operation not permitted");
    assertStringIncludes(text, "mount: permission denied");
    assertStringIncludes(text, "ls-ok\npiped\nchild-ok\n");
  },
});

Deno.test({
  name: "seccomp (root): without the filter the same calls reach the kernel (the probe is not lying)",
  ignore: !IS_ROOT || !X86_64,
  async fn() {
    const r = await probe({
      syscallsAfter: [
        { nr: nr("reboot"), args: [0, 0, 0, 0] },
        { nr: nr("mount"), args: [0, 0, 0, 0, 0] },
        { nr: nr("personality"), args: [0xffffffff] },
      ],
      argv: ["/bin/busybox", "true"],
    });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(JSON.parse(r.stdout.split("\n")[0]).map((x: string) => x.replace(/^ok:.*/, "ok")), [
      "EINVAL",
      "EFAULT",
      "ok",
    ]);
  },
});

Deno.test({
  name: "seccomp (root): a custom JSON profile applies, and an action of KILL_PROCESS kills",
  ignore: !IS_ROOT || !X86_64,
  async fn() {
    const profile = JSON.stringify({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
        { names: ["sethostname"], action: "SCMP_ACT_KILL_PROCESS" },
      ],
    });
    const denied = await probe({
      noNewPrivs: true,
      seccomp: { profile, caps: [] },
      argv: ["/bin/busybox", "sh", "-c", "mkdir /tmp/ctr-seccomp-should-not-exist 2>&1; echo done"],
    });
    assertStringIncludes(denied.stdout, "Permission denied");
    assertStringIncludes(denied.stdout, "done");
    const killed = await probe({
      noNewPrivs: true,
      seccomp: { profile, caps: [] },
      argv: ["/bin/busybox", "hostname", "ctr-never-set"],
    });
    assertEquals(killed.code, 128 + 31); // SIGSYS
  },
});
