import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  derToRaw,
  exportPrivateKey,
  exportPublicKey,
  generateKeyPair,
  importPrivateKey,
  importPublicKey,
  makePayload,
  parsePayload,
  rawToDer,
  signPayload,
  verifyPayload,
} from "./signature.ts";

const D = "sha256:" + "ab".repeat(32);

Deno.test("signature: payload round trip in cosign's simple-signing shape", () => {
  const bytes = makePayload("127.0.0.1:5000/team/app", D);
  assertEquals(
    new TextDecoder().decode(bytes),
    `{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/team/app"},"image":{"docker-manifest-digest":"${D}"},"type":"cosign container image signature"},"optional":{}}`,
  );
  assertEquals(parsePayload(bytes), { repository: "127.0.0.1:5000/team/app", digest: D, optional: {} });
  // cosign writes "optional": null
  const cosign =
    `{"critical":{"identity":{"docker-reference":"h/x"},"image":{"docker-manifest-digest":"${D}"},"type":"cosign container image signature"},"optional":null}`;
  assertEquals(parsePayload(new TextEncoder().encode(cosign)).digest, D);
});

Deno.test("signature: malformed payloads are refused with the reason", () => {
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  assertThrows(() => parsePayload(new TextEncoder().encode("{")), TypeError, "not JSON");
  assertThrows(() => parsePayload(enc({})), TypeError, "no critical section");
  assertThrows(() => parsePayload(enc({ critical: { type: "x" } })), TypeError, "unknown type");
  assertThrows(
    () => parsePayload(enc({ critical: { type: "cosign container image signature", image: {} } })),
    TypeError,
    "no manifest digest",
  );
  assertThrows(
    () =>
      parsePayload(enc({
        critical: {
          type: "cosign container image signature",
          image: { "docker-manifest-digest": "sha256:zz" },
        },
      })),
  );
});

Deno.test("signature: DER ⇄ raw conversions, including high-bit and short integers", () => {
  for (
    const raw of [
      new Uint8Array(64).fill(0xff),
      new Uint8Array(64).fill(1),
      (() => {
        const r = new Uint8Array(64);
        r[31] = 5;
        r[63] = 0x80;
        return r;
      })(),
    ]
  ) {
    const der = rawToDer(raw);
    assertEquals(der[0], 0x30);
    assertEquals(derToRaw(der), raw);
  }
  assertThrows(() => derToRaw(new Uint8Array([0x30, 3, 2, 1, 1])), TypeError);
  assertThrows(() => derToRaw(new Uint8Array([0x30, 6, 2, 1, 1, 2, 1, 1, 0])), TypeError, "wrong length");
  assertThrows(() => derToRaw(new Uint8Array([0x30, 6, 2, 1, 0x81, 2, 1, 1])), TypeError, "negative");
  assertThrows(() => derToRaw(new Uint8Array([0x30, 7, 2, 2, 0, 1, 2, 1, 1])), TypeError, "minimally");
});

Deno.test("signature: sign/verify with PEM-exported keys; a changed payload or other key fails", async () => {
  const a = await generateKeyPair();
  const b = await generateKeyPair();
  const pub = await importPublicKey(await exportPublicKey(a.publicKey));
  const priv = await importPrivateKey(await exportPrivateKey(a.privateKey));
  const payload = makePayload("h/x", D);
  const sig = await signPayload(priv, payload);
  assertEquals(sig[0], 0x30);
  assert(await verifyPayload(pub, payload, sig));
  assert(await verifyPayload(pub, payload, derToRaw(sig)), "raw r‖s accepted too");
  assert(!(await verifyPayload(b.publicKey, payload, sig)));
  const changed = makePayload("h/x", "sha256:" + "cd".repeat(32));
  assert(!(await verifyPayload(pub, changed, sig)));
  assert(!(await verifyPayload(pub, payload, sig.subarray(1))));
  await importPublicKey("nope").then(() => assert(false), (e) => assert(e instanceof TypeError));
});
