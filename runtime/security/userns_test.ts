import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  BLOCK,
  blockCount,
  ensureDefaultRanges,
  formatIdMap,
  freeRangeStart,
  hostIdOf,
  mapsFor,
  parseRemapSetting,
  parseSubordinateIds,
  remapRanges,
} from "./userns.ts";

Deno.test("userns: /etc/subuid parsing, with file:line for bad lines", () => {
  const m = parseSubordinateIds(
    "# c\nalice:100000:65536\n\nalice:300000:65536\n1000:400000:10\nz:5:0\n",
    "/etc/subuid",
  );
  assertEquals(m.get("alice"), [{ start: 100000, count: 65536 }, { start: 300000, count: 65536 }]);
  assertEquals(m.get("1000"), [{ start: 400000, count: 10 }]);
  assertEquals(m.has("z"), false);
  assertThrows(() => parseSubordinateIds("ok:1:1\nbad line\n", "/etc/subuid"), SyntaxError, "/etc/subuid:2");
});

Deno.test("userns: block 0 is the remap, later blocks for auto, across ranges", () => {
  const r = [{ start: 100000, count: BLOCK * 2 }, { start: 900000, count: BLOCK }];
  assertEquals(mapsFor(r, r, 0).uidMap, [{ containerId: 0, hostId: 100000, size: BLOCK }]);
  assertEquals(mapsFor(r, r, 1).uidMap, [{ containerId: 0, hostId: 100000 + BLOCK, size: BLOCK }]);
  assertEquals(mapsFor(r, r, 2).gidMap, [{ containerId: 0, hostId: 900000, size: BLOCK }]);
  assertThrows(() => mapsFor(r, r, 3), RangeError, "No free block");
  assertEquals(blockCount(r, [{ start: 1, count: BLOCK }]), 1);
  // a small range maps what it has
  assertEquals(
    mapsFor([{ start: 5000, count: 1000 }], [{ start: 5000, count: 1000 }], 0).uidMap[0].size,
    1000,
  );
  assertThrows(() => mapsFor([], r, 0), TypeError, "No subordinate uids");
});

Deno.test("userns: map text and id lookup", () => {
  const map = [{ containerId: 0, hostId: 100000, size: 65536 }];
  assertEquals(formatIdMap(map), "0 100000 65536\n");
  assertEquals(hostIdOf(map, 0), 100000);
  assertEquals(hostIdOf(map, 65535), 165535);
  assertEquals(hostIdOf(map, 65536), undefined);
  assertEquals(parseRemapSetting("default"), { user: "ctr", group: "ctr" });
  assertEquals(parseRemapSetting("app:staff"), { user: "app", group: "staff" });
  assertEquals(parseRemapSetting("app"), { user: "app", group: "app" });
});

Deno.test("userns: ctr's default ranges are added after every existing one, block-aligned, once", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const files = {
      subuid: `${dir}/subuid`,
      subgid: `${dir}/subgid`,
      passwd: `${dir}/passwd`,
      group: `${dir}/group`,
    };
    Deno.writeTextFileSync(files.subuid, "alice:100000:65536\nbob:165536:70000"); // no final newline
    assertEquals(freeRangeStart(parseSubordinateIds(Deno.readTextFileSync(files.subuid), "x")), 262144);
    ensureDefaultRanges(files);
    ensureDefaultRanges(files);
    assertEquals(
      Deno.readTextFileSync(files.subuid),
      `alice:100000:65536\nbob:165536:70000\nctr:262144:${BLOCK * 32}\n`,
    );
    assertEquals(Deno.readTextFileSync(files.subgid), `ctr:131072:${BLOCK * 32}\n`);
    const r = remapRanges("default", files);
    assertEquals(r.uids, [{ start: 262144, count: BLOCK * 32 }]);
    assertThrows(() => remapRanges("nobody", files), TypeError, 'No subordinate uids for user "nobody"');
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
