/**
 * Generated container names: `adjective_noun`, with a number appended on a clash, as Docker
 * does (its word lists are its own; these are ctr's).
 *
 * @module
 */

const ADJECTIVES = [
  "amber",
  "brave",
  "calm",
  "clever",
  "crisp",
  "daring",
  "eager",
  "fancy",
  "gentle",
  "glad",
  "golden",
  "happy",
  "humble",
  "jolly",
  "keen",
  "kind",
  "lively",
  "lucid",
  "merry",
  "mighty",
  "nimble",
  "noble",
  "patient",
  "plucky",
  "polite",
  "proud",
  "quick",
  "quiet",
  "rapid",
  "shiny",
  "silent",
  "sleek",
  "smart",
  "snappy",
  "solid",
  "steady",
  "sunny",
  "swift",
  "tender",
  "tidy",
  "vivid",
  "warm",
  "wise",
  "witty",
  "zealous",
];

const NOUNS = [
  "otter",
  "falcon",
  "maple",
  "comet",
  "harbor",
  "lantern",
  "meadow",
  "pebble",
  "quartz",
  "river",
  "summit",
  "tundra",
  "willow",
  "badger",
  "cedar",
  "delta",
  "ember",
  "fjord",
  "glacier",
  "heron",
  "island",
  "juniper",
  "kestrel",
  "lagoon",
  "marble",
  "nebula",
  "orchid",
  "prairie",
  "quasar",
  "raven",
  "sparrow",
  "thicket",
  "upland",
  "valley",
  "walrus",
  "yarrow",
  "zephyr",
  "beacon",
  "canyon",
  "dune",
];

/**
 * A random name not in `taken`.
 *
 * @example
 * ```ts
 * generateName((n) => existing.has(n)); // "swift_heron"
 * ```
 */
export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 20; i++) {
    const a = ADJECTIVES[Math.floor(Math.random() * ADJECTIVES.length)];
    const n = NOUNS[Math.floor(Math.random() * NOUNS.length)];
    const name = i < 10 ? `${a}_${n}` : `${a}_${n}${Math.floor(Math.random() * 10)}`;
    if (!taken(name)) return name;
  }
  return `ctr_${crypto.randomUUID().slice(0, 8)}`;
}
