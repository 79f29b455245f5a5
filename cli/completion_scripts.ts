/**
 * Shell completion scripts for bash, zsh and fish (`ctr completion SHELL`), generated from
 * the command definitions: commands, sub-commands, flags (with their descriptions where the
 * shell shows them), and arguments. Names of images, containers, networks and volumes are
 * completed by asking ctr itself (`ctr images --format '{{.Repository}}:{{.Tag}}'`,
 * `ctr ps -a --format '{{.Names}}'`, …), under the `--root` given on the command line.
 *
 * Each script is a small walker (which command path do the words so far name, how many
 * positional arguments follow it, is the previous word a flag awaiting a value) over tables
 * written out as `case` statements.
 *
 * @module
 */
import type { FlagSpec } from "./flags.ts";
import {
  allNodes,
  type ArgumentKind,
  argumentKinds,
  type CommandTreeGroup,
  HELP_FLAG,
  visibleFlags,
} from "./command_tree.ts";
import { commandTable } from "./table.ts";
import { globalFlags } from "./global.ts";

/** The shells `ctr completion` writes scripts for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;
/** One of {@linkcode SHELLS}. */
export type Shell = typeof SHELLS[number];

type ValueKind = "file" | "dir" | "network" | "format" | "none";

interface FlagEntry {
  long: string;
  short?: string;
  value: boolean;
  kind: ValueKind;
  description: string;
}

interface PathEntry {
  /** Command path as words joined by spaces; "" for the top level. */
  key: string;
  subs: { word: string; canonical: string; description: string }[];
  flags: FlagEntry[];
  args: ArgumentKind[];
  repeat: boolean;
  /** Everything after the first positional belongs to the program run (`run`, `exec`). */
  stop: boolean;
}

function valueKind(f: Pick<FlagSpec, "name" | "type" | "value">): ValueKind {
  if (f.type === "bool") return "none";
  if (f.name === "network" || f.name === "net") return "network";
  if (f.name === "format") return "format";
  if (f.name === "root" && f.value === "DIR") return "dir";
  if (/^(file|output|input|iidfile|env-file|config|tls-cert|tls-key|htpasswd)$/.test(f.name)) return "file";
  if (f.value === "FILE" || f.value === "DIR") return f.value === "DIR" ? "dir" : "file";
  return "none";
}

function flagEntry(f: FlagSpec): FlagEntry {
  return {
    long: f.name,
    short: f.short,
    value: f.type !== "bool",
    kind: valueKind(f),
    description: f.description.split("\n")[0],
  };
}

/** The completion tables of a command tree. */
function completionTable(groups: CommandTreeGroup[]): PathEntry[] {
  const top = groups.flatMap((g) => g.commands).filter((c) => commandTable[c.spec.name]);
  const entries: PathEntry[] = [{
    key: "",
    subs: top.map((c) => ({
      word: c.spec.name,
      canonical: c.spec.name,
      description: firstLine(c.spec.description),
    })),
    flags: [
      ...globalFlags.map((f) =>
        flagEntry({
          name: f.name,
          short: "short" in f ? f.short : undefined,
          type: "value" in f ? "string" : "bool",
          value: "value" in f ? f.value : undefined,
          description: f.description,
        })
      ),
      flagEntry(HELP_FLAG),
      flagEntry({
        name: "version",
        short: "v",
        type: "bool",
        description: "Print version information and quit",
      }),
    ],
    args: [],
    repeat: false,
    stop: false,
  }];
  for (const node of allNodes(groups)) {
    if (!commandTable[node.path[0]]) continue;
    const spec = node.spec;
    const { kinds, repeat } = argumentKinds(spec);
    entries.push({
      key: node.path.join(" "),
      subs: node.children.flatMap((c) =>
        [c.spec.name, ...(c.spec.aliases ?? [])].map((word) => ({
          word,
          canonical: c.spec.name,
          description: firstLine(c.spec.description),
        }))
      ),
      flags: [...visibleFlags(spec).map(flagEntry), flagEntry(HELP_FLAG)],
      args: node.path.length === 1 && node.path[0] === "help" ? ["command"] : kinds,
      repeat,
      stop: spec.stopAtPositional === true,
    });
  }
  return entries;
}

function firstLine(s: string): string {
  return s.split("\n")[0];
}

/** Single-quoted for sh, bash, zsh. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Single-quoted for fish (backslash and quote escaped). */
function fishq(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function kindWord(k: ArgumentKind): string {
  return typeof k === "string" ? k : `choice:${k.choices.join(",")}`;
}

function flagNames(f: FlagEntry): string[] {
  return [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])];
}

/**
 * The tables as POSIX `case` functions, shared by the bash and zsh scripts:
 * `_ctr_sub PATH WORD` (canonical sub-command or nothing), `_ctr_subs PATH`,
 * `_ctr_flags PATH`, `_ctr_value_flags PATH`, `_ctr_flag_kind PATH FLAG`, `_ctr_args PATH`
 * (`stop|repeat|once` then the kinds of the positionals).
 */
function shTables(entries: PathEntry[], withDescriptions: boolean): string {
  const out: string[] = [];
  out.push("_ctr_sub() {", '  case "$1/$2" in');
  for (const e of entries) {
    const byCanonical = new Map<string, string[]>();
    for (const s of e.subs) byCanonical.set(s.canonical, [...(byCanonical.get(s.canonical) ?? []), s.word]);
    for (const [canonical, words] of byCanonical) {
      out.push(`  ${words.map((w) => shq(`${e.key}/${w}`)).join(" | ")}) echo ${shq(canonical)} ;;`);
    }
  }
  out.push("  esac", "}", "");
  const table = (name: string, rows: [string, string][]) => {
    out.push(`${name}() {`, '  case "$1" in');
    for (const [key, value] of rows) if (value) out.push(`  ${shq(key)}) echo ${shq(value)} ;;`);
    out.push("  esac", "}", "");
  };
  table("_ctr_subs", entries.map((e) => [e.key, e.subs.map((s) => s.word).join(" ")]));
  table("_ctr_flags", entries.map((e) => [e.key, e.flags.flatMap(flagNames).join(" ")]));
  table(
    "_ctr_value_flags",
    entries.map((e) => [e.key, e.flags.filter((f) => f.value).flatMap(flagNames).join(" ")]),
  );
  table(
    "_ctr_args",
    entries.map((
      e,
    ) => [e.key, [e.stop ? "stop" : e.repeat ? "repeat" : "once", ...e.args.map(kindWord)].join(" ")]),
  );
  out.push("_ctr_flag_kind() {", '  case "$1/$2" in');
  for (const e of entries) {
    for (const f of e.flags.filter((f) => f.kind !== "none")) {
      out.push(`  ${flagNames(f).map((n) => shq(`${e.key}/${n}`)).join(" | ")}) echo ${f.kind} ;;`);
    }
  }
  out.push("  esac", "}", "");
  if (withDescriptions) {
    // zsh's _describe takes "word:description" lines.
    const esc = (s: string) => s.replace(/:/g, "\\:");
    out.push("_ctr_describe_subs() {", '  case "$1" in');
    for (const e of entries.filter((e) => e.subs.length)) {
      out.push(
        `  ${shq(e.key)}) print -rl -- ${
          e.subs.map((s) => shq(`${esc(s.word)}:${s.description}`)).join(" ")
        } ;;`,
      );
    }
    out.push("  esac", "}", "");
    out.push("_ctr_describe_flags() {", '  case "$1" in');
    for (const e of entries) {
      const lines = e.flags.flatMap((f) => flagNames(f).map((n) => shq(`${n}:${f.description}`)));
      out.push(`  ${shq(e.key)}) print -rl -- ${lines.join(" ")} ;;`);
    }
    out.push("  esac", "}", "");
  }
  return out.join("\n");
}

/** Lists names of one kind by asking ctr, with the words' `--root` (bash and zsh). */
const SH_NAMES = `# Names of existing objects, from ctr itself — the program typed (ctr, ./ctr, …) under the
# --root typed on the line, if any.
_ctr_names() {
  local kind=$1 prog=\${_ctr_prog:-ctr}
  shift
  case $prog in "~/"*) prog=$HOME/\${prog#"~/"} ;; esac
  case $kind in
  image) command "$prog" "$@" images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>' ;;
  container) command "$prog" "$@" ps -a --format '{{.Names}}' 2>/dev/null ;;
  network) command "$prog" "$@" network ls --format '{{.Name}}' 2>/dev/null ;;
  volume) command "$prog" "$@" volume ls -q 2>/dev/null ;;
  esac
}
`;

/**
 * The walker, in the common subset of bash and zsh: reads `_ctr_words` (the words before
 * the cursor, without `ctr`) and sets `_ctr_path`, `_ctr_nargs`, `_ctr_root` (the `--root`
 * flag as words) and `_ctr_pending` (a flag still waiting for its value).
 */
const SH_WALK = `_ctr_walk() {
  local w sub skip=
  _ctr_path=
  _ctr_nargs=0
  _ctr_root=()
  _ctr_pending=
  for w in "\${_ctr_words[@]}"; do
    if [ -n "$skip" ]; then
      [ "$skip" = --root ] && [ -z "$_ctr_path" ] && _ctr_root=(--root "$w")
      skip=
      continue
    fi
    case $w in
    --root=*) [ -z "$_ctr_path" ] && _ctr_root=("$w") ;;
    --*=*) ;;
    -?*)
      if [ "$_ctr_nargs" -gt 0 ] && [ "$(set -- $(_ctr_args "$_ctr_path"); echo "$1")" = stop ]; then
        _ctr_nargs=$((_ctr_nargs + 1))
      else
        case " $(_ctr_value_flags "$_ctr_path") " in *" $w "*) skip=$w ;; esac
      fi ;;
    *)
      sub=
      [ "$_ctr_nargs" -eq 0 ] && sub=$(_ctr_sub "$_ctr_path" "$w")
      if [ -n "$sub" ]; then _ctr_path=\${_ctr_path:+$_ctr_path }$sub; else _ctr_nargs=$((_ctr_nargs + 1)); fi ;;
    esac
  done
  _ctr_pending=$skip
}

# The kind of the positional argument at the cursor: image, container, …, choice:a,b, file.
_ctr_arg_kind() {
  set -- $(_ctr_args "$_ctr_path")
  local mode=$1
  shift
  if [ "$mode" = stop ] && [ "$_ctr_nargs" -ge 1 ]; then echo file; return; fi
  if [ "$_ctr_nargs" -lt $# ]; then shift "$_ctr_nargs"; echo "$1"; return; fi
  if [ "$mode" = repeat ] && [ $# -gt 0 ]; then eval "echo \\\${$#}"; fi
}
`;

function bashScript(entries: PathEntry[]): string {
  return `# bash completion for ctr — generated by \`ctr completion bash\` from ctr's command definitions.
# Load it now:        source <(ctr completion bash)
# Or for every shell: ctr completion bash > /etc/bash_completion.d/ctr

${shTables(entries, false)}
${SH_NAMES}
${SH_WALK}
_ctr() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  local _ctr_words=("\${COMP_WORDS[@]:1:COMP_CWORD-1}") _ctr_prog=\${COMP_WORDS[0]}
  local _ctr_path _ctr_nargs _ctr_pending _ctr_root
  _ctr_walk
  COMPREPLY=()
  if [ -n "$_ctr_pending" ]; then
    case $(_ctr_flag_kind "$_ctr_path" "$_ctr_pending") in
    network) mapfile -t COMPREPLY < <(compgen -W "$(_ctr_names network "\${_ctr_root[@]}")" -- "$cur") ;;
    format) mapfile -t COMPREPLY < <(compgen -W "json table" -- "$cur") ;;
    dir) mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    *) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    esac
    return
  fi
  if [[ $cur == -* ]] && ! { [ "$_ctr_nargs" -gt 0 ] && [ "$(_ctr_arg_kind)" = file ] && [[ $(_ctr_args "$_ctr_path") == stop* ]]; }; then
    mapfile -t COMPREPLY < <(compgen -W "$(_ctr_flags "$_ctr_path")" -- "$cur")
    return
  fi
  if [ "$_ctr_nargs" -eq 0 ] && [ -n "$(_ctr_subs "$_ctr_path")" ]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_ctr_subs "$_ctr_path")" -- "$cur")
    return
  fi
  local kind
  kind=$(_ctr_arg_kind)
  case $kind in
  image | container | network | volume)
    local IFS=$'\\n'
    mapfile -t COMPREPLY < <(compgen -W "$(_ctr_names "$kind" "\${_ctr_root[@]}")" -- "$cur") ;;
  command) mapfile -t COMPREPLY < <(compgen -W "$(_ctr_subs "")" -- "$cur") ;;
  choice:*)
    kind=\${kind#choice:}
    mapfile -t COMPREPLY < <(compgen -W "\${kind//,/ }" -- "$cur") ;;
  file) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
  esac
}
complete -o default -F _ctr ctr ./ctr
`;
}

function zshScript(entries: PathEntry[]): string {
  return `#compdef ctr
# zsh completion for ctr — generated by \`ctr completion zsh\` from ctr's command definitions.
# Load it now:        source <(ctr completion zsh)
# Or for every shell: ctr completion zsh > "\${fpath[1]}/_ctr"   (then restart zsh)

${shTables(entries, true)}
${SH_NAMES}
${SH_WALK}
_ctr() {
  local cur=\${words[CURRENT]} kind _ctr_prog=\${words[1]}
  local -a _ctr_words _ctr_root lines
  _ctr_words=("\${(@)words[2,CURRENT-1]}")
  local _ctr_path _ctr_nargs _ctr_pending
  _ctr_walk
  if [[ -n $_ctr_pending ]]; then
    case $(_ctr_flag_kind "$_ctr_path" "$_ctr_pending") in
    network) compadd -- \${(f)"$(_ctr_names network "\${_ctr_root[@]}")"} ;;
    format) compadd -- json table ;;
    dir) _files -/ ;;
    *) _files ;;
    esac
    return
  fi
  kind=$(_ctr_arg_kind)
  if [[ $cur == -* && ! ( $_ctr_nargs -gt 0 && $(_ctr_args "$_ctr_path") == stop* ) ]]; then
    lines=("\${(@f)$(_ctr_describe_flags "$_ctr_path")}")
    _describe -t options option lines
    return
  fi
  if [[ $_ctr_nargs -eq 0 && -n $(_ctr_subs "$_ctr_path") ]]; then
    lines=("\${(@f)$(_ctr_describe_subs "$_ctr_path")}")
    _describe -t commands command lines
    return
  fi
  case $kind in
  image | container | network | volume) compadd -- \${(f)"$(_ctr_names "$kind" "\${_ctr_root[@]}")"} ;;
  command)
    lines=("\${(@f)$(_ctr_describe_subs "")}")
    _describe -t commands command lines ;;
  choice:*) compadd -- \${(s:,:)\${kind#choice:}} ;;
  *) _files ;;
  esac
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _ctr "$@"
else
  compdef _ctr ctr
fi
`;
}

function fishScript(entries: PathEntry[]): string {
  const out: string[] = [
    "# fish completion for ctr — generated by `ctr completion fish` from ctr's command definitions.",
    "# Load it now:        ctr completion fish | source",
    "# Or for every shell: ctr completion fish > ~/.config/fish/completions/ctr.fish",
    "",
    "function __ctr_sub",
    '    switch "$argv[1]/$argv[2]"',
  ];
  for (const e of entries) {
    const byCanonical = new Map<string, string[]>();
    for (const s of e.subs) byCanonical.set(s.canonical, [...(byCanonical.get(s.canonical) ?? []), s.word]);
    for (const [canonical, words] of byCanonical) {
      out.push(
        `        case ${words.map((w) => fishq(`${e.key}/${w}`)).join(" ")}`,
        `            echo ${fishq(canonical)}`,
      );
    }
  }
  out.push("    end", "end", "");
  out.push("function __ctr_value_flag", '    switch "$argv[1]/$argv[2]"');
  const valueFlags = entries.flatMap((e) =>
    e.flags.filter((f) => f.value).flatMap((f) => flagNames(f).map((n) => fishq(`${e.key}/${n}`)))
  );
  for (let i = 0; i < valueFlags.length; i += 8) {
    out.push(`        case ${valueFlags.slice(i, i + 8).join(" ")}`, "            return 0");
  }
  out.push("    end", "    return 1", "end", "");
  out.push("function __ctr_args", '    switch "$argv[1]"');
  for (const e of entries) {
    out.push(
      `        case ${fishq(e.key)}`,
      `            echo ${
        [e.stop ? "stop" : e.repeat ? "repeat" : "once", ...e.args.map(kindWord)].join(" ")
      }`,
    );
  }
  out.push("    end", "end", "");
  out.push(`# Sets __ctr_path, __ctr_nargs and __ctr_root from the words before the cursor.
function __ctr_walk
    # Every condition of every completion asks; walk each command line once.
    set -l line (commandline -pc)
    test "$line" = "$__ctr_walked"; and return
    set -g __ctr_walked $line
    set -g __ctr_path ''
    set -g __ctr_nargs 0
    set -g __ctr_root
    set -l skip ''
    for w in (commandline -opc)[2..-1]
        if test -n "$skip"
            test "$skip" = --root -a -z "$__ctr_path"; and set -g __ctr_root --root $w
            set skip ''
            continue
        end
        switch $w
            case '--root=*'
                test -z "$__ctr_path"; and set -g __ctr_root $w
            case '--*=*'
            case '-?*'
                set -l mode (string split ' ' -- (__ctr_args "$__ctr_path"))[1]
                if test $__ctr_nargs -gt 0 -a "$mode" = stop
                    set __ctr_nargs (math $__ctr_nargs + 1)
                else if __ctr_value_flag "$__ctr_path" $w
                    set skip $w
                end
            case '*'
                set -l sub
                test $__ctr_nargs -eq 0; and set sub (__ctr_sub "$__ctr_path" $w)
                if test -n "$sub"
                    set -g __ctr_path (string trim -- "$__ctr_path $sub")
                else
                    set __ctr_nargs (math $__ctr_nargs + 1)
                end
        end
    end
end

# True when the words so far name command PATH and no argument follows it yet.
function __ctr_at
    __ctr_walk
    test "$__ctr_path" = "$argv[1]" -a $__ctr_nargs -eq 0
end

# True when the words so far name command PATH (flags complete anywhere after it).
function __ctr_in
    __ctr_walk
    test "$__ctr_path" = "$argv[1]"
end

# The kind of the positional argument at the cursor.
function __ctr_arg_kind
    __ctr_walk
    set -l spec (string split ' ' -- (__ctr_args "$__ctr_path"))
    set -l mode $spec[1]
    set -l kinds $spec[2..-1]
    if test "$mode" = stop -a $__ctr_nargs -ge 1
        echo file
    else if test $__ctr_nargs -lt (count $kinds)
        echo $kinds[(math $__ctr_nargs + 1)]
    else if test "$mode" = repeat -a (count $kinds) -gt 0
        echo $kinds[-1]
    end
end

function __ctr_kind_is
    set -l kind (__ctr_arg_kind)
    test "$argv[1]" = "$kind"
end

function __ctr_names
    __ctr_walk
    # The program typed (ctr, ./ctr, …), under the --root typed on the line.
    set -l prog (commandline -opc)[1]
    switch $argv[1]
        case image
            command $prog $__ctr_root images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | string match -v '*<none>*'
        case container
            command $prog $__ctr_root ps -a --format '{{.Names}}' 2>/dev/null
        case network
            command $prog $__ctr_root network ls --format '{{.Name}}' 2>/dev/null
        case volume
            command $prog $__ctr_root volume ls -q 2>/dev/null
    end
end

complete -c ctr -f
`);
  for (const e of entries) {
    for (const s of e.subs.filter((s) => s.word === s.canonical)) {
      out.push(
        `complete -c ctr -n ${fishq(`__ctr_at ${fishq(e.key)}`)} -a ${fishq(s.word)} -d ${
          fishq(s.description)
        }`,
      );
    }
    for (const f of e.flags) {
      let line = `complete -c ctr -n ${fishq(`__ctr_in ${fishq(e.key)}`)} -l ${fishq(f.long)}`;
      if (f.short) line += ` -s ${fishq(f.short)}`;
      if (f.value) {
        line += f.kind === "network"
          ? " -x -a '(__ctr_names network)'"
          : f.kind === "format"
          ? " -x -a 'json table'"
          : f.kind === "file" || f.kind === "dir"
          ? " -r -F"
          : " -x";
      }
      out.push(`${line} -d ${fishq(f.description)}`);
    }
  }
  out.push("");
  for (const kind of ["image", "container", "network", "volume"]) {
    out.push(`complete -c ctr -n '__ctr_kind_is ${kind}' -a '(__ctr_names ${kind})'`);
  }
  out.push(
    `complete -c ctr -n '__ctr_kind_is command' -a ${fishq(entries[0].subs.map((s) => s.word).join(" "))}`,
  );
  out.push("complete -c ctr -n '__ctr_kind_is file' -F");
  const choices = new Set(entries.flatMap((e) => e.args.filter((k) => typeof k !== "string").map(kindWord)));
  for (const c of choices) {
    out.push(
      `complete -c ctr -n ${fishq(`__ctr_kind_is ${c}`)} -a ${fishq(c.slice(7).split(",").join(" "))}`,
    );
  }
  return out.join("\n") + "\n";
}

/**
 * The completion script for `shell`.
 *
 * @example
 * ```ts
 * console.log(completionScript("bash", await loadCommandTree()));
 * ```
 */
export function completionScript(shell: Shell, groups: CommandTreeGroup[]): string {
  const entries = completionTable(groups);
  if (shell === "bash") return bashScript(entries);
  if (shell === "zsh") return zshScript(entries);
  return fishScript(entries);
}
