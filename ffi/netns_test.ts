import { assertEquals, assertNotEquals, assertThrows } from "../tests/assert.ts";
import { IS_ROOT } from "../tests/helpers.ts";
import { createNetns, inNetns, netnsPath } from "./netns.ts";
import { libc } from "./libc.ts";

const inode = (path: string) => Deno.statSync(path).ino;

Deno.test({
  name: "netns (root): inNetns runs inside the namespace and always comes back",
  ignore: !IS_ROOT,
  fn() {
    const before = inode("/proc/thread-self/ns/net");
    const ns = createNetns();
    try {
      assertEquals(inode("/proc/thread-self/ns/net"), before, "createNetns leaves the thread where it was");
      const inside = inNetns(ns, () => inode("/proc/thread-self/ns/net"));
      assertNotEquals(inside, before);
      assertEquals(inside, inode(netnsPath(ns)));
      assertThrows(
        () =>
          inNetns(ns, () => {
            throw new Error("boom");
          }),
        Error,
        "boom",
      );
      assertEquals(inode("/proc/thread-self/ns/net"), before, "restored after a throw");
      assertThrows(() => inNetns(ns, () => Promise.resolve(1)), TypeError, "synchronous");
      assertEquals(inode("/proc/thread-self/ns/net"), before, "restored after an async callback");
    } finally {
      libc.close(ns);
    }
  },
});

Deno.test({
  name: "netns (root): a child spawned inside sees only the new namespace's lo",
  ignore: !IS_ROOT,
  async fn() {
    const ns = createNetns();
    try {
      const out = await inNetns(
        ns,
        () => new Deno.Command("cat", { args: ["/proc/net/dev"], stdout: "piped" }).spawn(),
      )
        .output();
      const ifaces = new TextDecoder().decode(out.stdout).split("\n").slice(2).filter((l) => l.trim())
        .map((l) => l.split(":")[0].trim());
      assertEquals(ifaces, ["lo"]);
    } finally {
      libc.close(ns);
    }
  },
});
