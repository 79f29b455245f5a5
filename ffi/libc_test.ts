import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { cstr, exitCodeOf, libc, makedev } from "./libc.ts";
import { SyscallError } from "./errno.ts";
import { parseSignal, S } from "./constants.ts";

const isRoot = Deno.uid() === 0;

Deno.test("libc: getpid matches Deno.pid", () => {
  assertEquals(libc.getpid(), Deno.pid);
});

Deno.test("libc: pipe carries bytes both ways through raw read/write", () => {
  const [r, w] = libc.pipe();
  try {
    assertEquals(libc.write(w, new TextEncoder().encode("hello")), 5);
    const buf = new Uint8Array(16);
    const n = libc.read(r, buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n)), "hello");
  } finally {
    libc.close(r);
    libc.close(w);
  }
});

Deno.test("libc: a failed call names the call, errno and path", () => {
  const err = assertThrows(() => libc.chdir("/definitely/not/here"), SyscallError);
  assertEquals(err.code, "ENOENT");
  assertEquals(err.errno, 2);
  assertEquals(err.path, "/definitely/not/here");
  assertEquals(err.message, 'chdir "/definitely/not/here": ENOENT');
});

Deno.test("libc: user xattrs round-trip and list", () => {
  const f = Deno.makeTempFileSync();
  try {
    libc.lsetxattr(f, "user.ctr.test", new TextEncoder().encode("v1"));
    assertEquals(new TextDecoder().decode(libc.lgetxattr(f, "user.ctr.test")!), "v1");
    assert(libc.llistxattr(f).includes("user.ctr.test"));
    assertEquals(libc.lgetxattr(f, "user.absent"), null);
    libc.lremovexattr(f, "user.ctr.test");
    assertEquals(libc.lgetxattr(f, "user.ctr.test"), null);
  } finally {
    Deno.removeSync(f);
  }
});

Deno.test("libc: utimensat sets a symlink's own mtime, not its target's", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/t`, "x");
    Deno.symlinkSync("t", `${dir}/l`);
    libc.utimensat(`${dir}/l`, { sec: 1000, nsec: 0 }, { sec: 2000, nsec: 5 });
    assertEquals(Deno.lstatSync(`${dir}/l`).mtime?.getTime(), 2000_000);
    assert(Deno.lstatSync(`${dir}/t`).mtime!.getTime() !== 2000_000);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("libc: makedev matches glibc's encoding", () => {
  assertEquals(makedev(1, 3), 0x103n);
  assertEquals(makedev(8, 0x1234), 0x1200834n);
  assertEquals(makedev(0x1000, 0), 0x100000000000n);
});

Deno.test("libc: exit codes follow Docker (status, 128+signal)", () => {
  assertEquals(exitCodeOf({ pid: 1, code: 1, status: 3 }), 3);
  assertEquals(exitCodeOf({ pid: 1, code: 2, status: 9 }), 137);
});

Deno.test("constants: signals parse as Docker accepts them", () => {
  assertEquals(parseSignal("SIGTERM"), 15);
  assertEquals(parseSignal("term"), 15);
  assertEquals(parseSignal("9"), 9);
  assertEquals(parseSignal("SIGRTMIN+3"), 37);
  assertThrows(() => parseSignal("SIGNOPE"), RangeError);
  assertThrows(() => parseSignal("0"), RangeError);
});

Deno.test({
  name: "libc (root): mknod makes a fifo and a char device, lchown sets owners",
  ignore: !isRoot,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      libc.mknod(`${dir}/fifo`, S.IFIFO | 0o620);
      libc.mknod(`${dir}/null`, S.IFCHR | 0o666, 1, 3);
      libc.lchmod(`${dir}/fifo`, 0o620); // mknod applies the umask; the mode is set again
      libc.lchown(`${dir}/fifo`, 1234, 5678);
      const f = Deno.lstatSync(`${dir}/fifo`), n = Deno.lstatSync(`${dir}/null`);
      assert(f.isFifo);
      assertEquals([f.uid, f.gid, f.mode! & 0o7777], [1234, 5678, 0o620]);
      assert(n.isCharDevice);
      assertEquals(n.rdev, 0x103);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "libc (root): capget reports the full bounding set for root",
  ignore: !isRoot,
  fn() {
    const caps = libc.capget();
    assert((caps.effective & (1n << 21n)) !== 0n, "CAP_SYS_ADMIN effective");
  },
});

Deno.test("libc: cstr is NUL-terminated", () => {
  assertEquals([...cstr("ab")], [97, 98, 0]);
});
