import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  blkioWeightToIoWeight,
  cpusToQuota,
  dockerResources,
  parseBytes,
  sharesToWeight,
} from "./resources.ts";

Deno.test("resources: sizes parse as Docker's --memory", () => {
  const table: [string, number][] = [
    ["0", 0],
    ["1024", 1024],
    ["32m", 32 << 20],
    ["32M", 32 << 20],
    ["32mb", 32 << 20],
    ["1g", 1 << 30],
    ["1.5k", 1536],
    ["2t", 2 * 1024 ** 4],
    ["7b", 7],
  ];
  for (const [text, n] of table) assertEquals(parseBytes(text), n, text);
  for (const bad of ["", "m", "-1m", "12x", "1 2"]) assertThrows(() => parseBytes(bad), TypeError);
});

Deno.test("resources: --cpus becomes a quota over a 100 ms period", () => {
  assertEquals(cpusToQuota(0.5), { cpuQuota: 50000, cpuPeriod: 100000 });
  assertEquals(cpusToQuota(1.25), { cpuQuota: 125000, cpuPeriod: 100000 });
  assertEquals(cpusToQuota(0.01), { cpuQuota: 1000, cpuPeriod: 100000 });
});

Deno.test("resources: shares map onto v2 weights with the default kept at 100", () => {
  const table: [number, number][] = [[0, 0], [1, 1], [2, 1], [512, 59], [1024, 100], [2048, 174], [
    262144,
    10000,
  ], [
    300000,
    10000,
  ]];
  for (const [shares, weight] of table) assertEquals(sharesToWeight(shares), weight, `shares ${shares}`);
  // Monotonic over the whole range.
  let last = 0;
  for (let s = 2; s <= 262144; s = Math.ceil(s * 1.1)) {
    const w = sharesToWeight(s);
    if (w < last) throw new Error(`not monotonic at ${s}`);
    last = w;
  }
});

Deno.test("resources: blkio weight maps linearly onto io.weight", () => {
  assertEquals(blkioWeightToIoWeight(10), 1);
  assertEquals(blkioWeightToIoWeight(500), 4950);
  assertEquals(blkioWeightToIoWeight(1000), 10000);
});

Deno.test("resources: Docker's defaults and derived limits", () => {
  const table: [Parameters<typeof dockerResources>[0], ReturnType<typeof dockerResources>][] = [
    [{}, {}],
    [{ memory: 32 << 20 }, { memory: 32 << 20, memorySwap: 64 << 20 }],
    [{ memory: 32 << 20, memorySwap: 32 << 20 }, { memory: 32 << 20, memorySwap: 32 << 20 }],
    [{ memory: 32 << 20, memorySwap: -1 }, { memory: 32 << 20, memorySwap: -1 }],
    [{ cpus: 0.5 }, { cpuQuota: 50000, cpuPeriod: 100000 }],
    [{ cpuQuota: 20000, cpuPeriod: 50000 }, { cpuQuota: 20000, cpuPeriod: 50000 }],
    [{ cpuShares: 1 }, { cpuShares: 2 }],
    [{ pidsLimit: 20 }, { pidsLimit: 20 }],
    [{ pidsLimit: -5 }, { pidsLimit: -1 }],
    [{ memoryReservation: 8 << 20, memory: 16 << 20 }, {
      memory: 16 << 20,
      memorySwap: 32 << 20,
      memoryReservation: 8 << 20,
    }],
    [{ cpusetCpus: "0-1", blkioWeight: 300 }, { cpusetCpus: "0-1", blkioWeight: 300 }],
  ];
  for (const [flags, want] of table) assertEquals(dockerResources(flags, 2), want, JSON.stringify(flags));
});

Deno.test("resources: Docker's refusals, with Docker's messages", () => {
  const table: [Parameters<typeof dockerResources>[0], string][] = [
    [{ memory: 1 << 20 }, "Minimum memory limit allowed is 6MB"],
    [{ memorySwap: 64 << 20 }, "You should always set the Memory limit when using Memoryswap limit"],
    [
      { memory: 64 << 20, memorySwap: 32 << 20 },
      "Minimum memoryswap limit should be larger than memory limit",
    ],
    [{ cpus: 3 }, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"],
    [{ cpus: 0.001 }, "Range of CPUs is from 0.01 to 2.00"],
    [{ cpus: 1, cpuQuota: 1000 }, "Conflicting options: Nano CPUs and CPU Period cannot both be set"],
    [{ cpuPeriod: 10 }, "CPU cfs period can not be less than 1ms"],
    [{ cpuQuota: 10 }, "CPU cfs quota can not be less than 1ms"],
    [{ blkioWeight: 5 }, "Range of blkio weight is from 10 to 1000"],
    [{ memory: 8 << 20, memoryReservation: 16 << 20 }, "memory reservation"],
  ];
  for (const [flags, msg] of table) assertThrows(() => dockerResources(flags, 2), RangeError, msg);
});
