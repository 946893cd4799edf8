'use strict';
// The seeded generator of the tests and the reliability runs, so that a
// printed seed replays a run: mulberry32 (32 bits of state), the same sequence
// for a seed on every runtime and in every thread.
//
// Kept rather than fast-check's generators (the model test's): a seed printed
// by an earlier run still replays the same plan, since the copies this replaces
// were all mulberry32, and a worker thread can load it without fast-check.

/**
 * A generator seeded with `seed` (taken as a 32-bit unsigned integer): each
 * call returns a float in [0, 1). Also `.uint32()` (the raw 32-bit word),
 * `.int(lo, hi)` (an integer in [lo, hi], both included) and `.pick(list)`.
 * They all draw from the same sequence.
 */
function seededRandom(seed) {
  let state = seed >>> 0;
  const uint32 = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const next = () => uint32() / 4294967296;
  next.uint32 = uint32;
  next.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  next.pick = (list) => list[Math.floor(next() * list.length)];
  return next;
}

/** A seed given as text: a decimal number is that number, any other text its 32-bit FNV-1a hash. */
function seedFromText(text) {
  if (/^\d+$/.test(text)) return Number(text);
  let h = 2166136261;
  for (const ch of String(text)) h = Math.imul(h ^ ch.codePointAt(0), 16777619) >>> 0;
  return h;
}

module.exports = { seededRandom, seedFromText };
