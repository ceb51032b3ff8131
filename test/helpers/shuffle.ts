/** A deterministic shuffle (LCG) from `seed`, so a sort has real work to do and a test does not depend on Math.random. */
export function shuffled<T> (items: readonly T[], seed: number): T[] {
  const out = items.slice()
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff
    const j = s % (i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}
