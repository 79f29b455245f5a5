import { assertEquals } from "../tests/assert.ts";
import { MS } from "../ffi/constants.ts";
import { encodeInitSpec, parseMountOptions } from "./init_spec.ts";

Deno.test("mount options: flags, data and propagation", () => {
  assertEquals(parseMountOptions(["rbind", "ro", "rprivate"]), {
    flags: MS.BIND | MS.REC | MS.RDONLY,
    data: "",
    propagation: MS.PRIVATE | MS.REC,
    readonly: true,
  });
  assertEquals(parseMountOptions(["nosuid", "noexec", "mode=1777", "size=65536k"]), {
    flags: MS.NOSUID | MS.NOEXEC,
    data: "mode=1777,size=65536k",
    propagation: 0,
    readonly: false,
  });
  assertEquals(parseMountOptions(["ro", "rw"]).readonly, false);
});

Deno.test("init spec: length-prefixed JSON", () => {
  const bytes = encodeInitSpec({ mode: "join", joinPid: 1 } as never);
  const len = new DataView(bytes.buffer).getUint32(0);
  assertEquals(len, bytes.length - 4);
  assertEquals(JSON.parse(new TextDecoder().decode(bytes.subarray(4))), { mode: "join", joinPid: 1 });
});
