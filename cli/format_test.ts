import { assertEquals, assertThrows } from "../tests/assert.ts";
import { formatRows, formatTemplate, goTimeString, humanDuration, humanSize, renderTable } from "./format.ts";

Deno.test("humanSize matches go-units HumanSizeWithPrecision", () => {
  const cases: [number, string][] = [
    [0, "0B"],
    [999, "999B"],
    [1000, "1kB"],
    [1024, "1.02kB"],
    [4261550, "4.26MB"],
    [124_000_000, "124MB"],
    [12_500_000, "12.5MB"],
    [1_500_000_000, "1.5GB"],
  ];
  for (const [n, s] of cases) assertEquals(humanSize(n), s, String(n));
  assertEquals(humanSize(4261550, 4), "4.262MB");
});

Deno.test("humanDuration matches go-units HumanDuration", () => {
  const s = 1000, m = 60 * s, h = 60 * m, d = 24 * h;
  const cases: [number, string][] = [
    [500, "Less than a second"],
    [s, "1 second"],
    [42 * s, "42 seconds"],
    [m + 5 * s, "About a minute"],
    [59 * m, "59 minutes"],
    [h + 10 * m, "About an hour"],
    [90 * m, "2 hours"],
    [47 * h, "47 hours"],
    [3 * d, "3 days"],
    [15 * d, "2 weeks"],
    [90 * d, "3 months"],
    [800 * d, "2 years"],
  ];
  for (const [ms, text] of cases) assertEquals(humanDuration(ms), text, String(ms));
});

Deno.test("goTimeString prints Go's time.Time format in UTC", () => {
  assertEquals(goTimeString("2023-07-18T23:19:33.655005962Z"), "2023-07-18 23:19:33 +0000 UTC");
});

Deno.test("renderTable pads like Docker's tabwriter", () => {
  assertEquals(
    renderTable([["REPOSITORY", "TAG", "IMAGE ID"], ["busybox", "latest", "3f57d9401f8d"]]),
    "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    3f57d9401f8d",
  );
});

Deno.test("formatTemplate: fields, functions, pipelines", () => {
  const v = {
    Id: "sha256:abc",
    Config: { Env: ["A=1", "B=2"], Labels: { "a.b": "c" } },
    Tags: ["x", "y"],
    N: null,
  };
  assertEquals(formatTemplate("{{.Id}}", v), "sha256:abc");
  assertEquals(formatTemplate("{{json .Config.Env}}", v), '["A=1","B=2"]');
  assertEquals(formatTemplate('{{index .Config.Labels "a.b"}}', v), "c");
  assertEquals(formatTemplate('{{join .Tags ","}} {{len .Tags}}', v), "x,y 2");
  assertEquals(formatTemplate("{{.Config.Env | json}}", v), '["A=1","B=2"]');
  assertEquals(formatTemplate("{{.Tags}} {{.N}}", v), "[x y] <no value>");
  assertEquals(formatTemplate("{{upper .Id}}\\t.", v), "SHA256:ABC\t.");
  assertThrows(() => formatTemplate("{{nope .Id}}", v), SyntaxError, 'function "nope" not defined');
  assertThrows(() => formatTemplate('{{template "x"}}', v), SyntaxError, "not supported");
});

Deno.test("formatTemplate: range, if, else, with and variables, as Docker users write them", () => {
  const doc = {
    Name: "/web",
    Tags: ["x", "y"],
    Empty: [],
    NetworkSettings: { Networks: { front: { IPAddress: "10.0.0.2" }, back: { IPAddress: "10.1.0.2" } } },
    Config: { Labels: { b: "2", a: "1" }, Env: null },
  };
  // The classic: a container's addresses (maps range in key order).
  assertEquals(
    formatTemplate("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", doc),
    "10.1.0.2 10.0.0.2 ",
  );
  assertEquals(formatTemplate("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", doc), "a=1;b=2;");
  assertEquals(
    formatTemplate("{{range $i, $t := .Tags}}{{$i}}:{{$t}}{{$.Name}} {{end}}", doc),
    "0:x/web 1:y/web ",
  );
  assertEquals(formatTemplate("{{range .Empty}}no{{else}}empty{{end}}", doc), "empty");
  assertEquals(formatTemplate("{{range .Config.Env}}{{.}}{{end}}.", doc), ".");
  assertEquals(formatTemplate("{{if .Tags}}has{{else}}none{{end}}", doc), "has");
  assertEquals(formatTemplate("{{if .Empty}}a{{else if .Name}}b{{else}}c{{end}}", doc), "b");
  assertEquals(
    formatTemplate("{{with .NetworkSettings.Networks.front}}{{.IPAddress}}{{end}}", doc),
    "10.0.0.2",
  );
  assertEquals(formatTemplate("{{with .Config.Env}}x{{else}}unset{{end}}", doc), "unset");
  assertEquals(formatTemplate("{{- range .Tags }}\n  {{ . }}{{ end }}", doc), "\n  x\n  y");
  assertEquals(formatTemplate('{{if eq .Name "/web"}}yes{{end}} {{if not .Empty}}no{{end}}', doc), "yes no");
  assertEquals(formatTemplate("{{if and .Tags .Empty}}a{{else if or .Empty .Name}}b{{end}}", doc), "b");
  assertThrows(() => formatTemplate("{{range .Tags}}{{.}}", doc), SyntaxError, "range without end");
  assertThrows(() => formatTemplate("{{.Name}}{{end}}", doc), SyntaxError, "unexpected {{end}}");
  assertThrows(() => formatTemplate("{{$nope}}", doc), SyntaxError, 'undefined variable "$nope"');
  assertThrows(
    () => formatTemplate("{{range .Name}}{{end}}", doc),
    TypeError,
    "range can't iterate over /web",
  );
});

Deno.test("formatRows: json lines with sorted keys, and tables with headers", () => {
  const rows = [{ Tag: "latest", Repository: "busybox" }];
  assertEquals(formatRows("json", rows, {}), ['{"Repository":"busybox","Tag":"latest"}']);
  assertEquals(
    formatRows("table {{.Repository}}\t{{.Tag}}", rows, { Repository: "REPOSITORY", Tag: "TAG" }),
    [
      "REPOSITORY   TAG",
      "busybox      latest",
    ],
  );
  assertEquals(formatRows("{{.Repository}}:{{.Tag}}", rows, {}), ["busybox:latest"]);
});
