import { assertEquals, assertThrows } from "../tests/assert.ts";
import { parseSecrets } from "./build_command.ts";

Deno.test("parseSecrets: src/source files, env variables, the id as a default", () => {
  const env = { NPM_TOKEN: "t", token: "x" };
  assertEquals(
    parseSecrets([
      "id=npm,src=/home/me/.npmrc",
      "id=aws,source=creds",
      "id=tok,env=NPM_TOKEN",
      "id=t2,type=env,src=NPM_TOKEN",
      "id=token",
      "id=cert",
    ], env),
    new Map<string, unknown>([
      ["npm", { file: "/home/me/.npmrc" }],
      ["aws", { file: "creds" }],
      ["tok", { env: "NPM_TOKEN" }],
      ["t2", { env: "NPM_TOKEN" }],
      ["token", { env: "token" }],
      ["cert", { file: "cert" }],
    ]),
  );
  assertThrows(() => parseSecrets(["src=/x"], {}), TypeError, "id is required");
  assertThrows(() => parseSecrets(["id=a,novalue"], {}), TypeError, "key=value");
  assertThrows(() => parseSecrets(["id=a,type=ssh"], {}), TypeError, "Invalid secret type");
});
