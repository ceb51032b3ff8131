/** What comes before a node's number in its address. */
export const MEMORY_N = 'mem://n'

/** The decimal number from `from` to the end of `s` (no sign, no leading zero but '0' itself), or -1. */
export function numberAt (s: string, from: number): number {
  const end = s.length
  if (from >= end || end - from > 9 || (s.charCodeAt(from) === 48 && end - from > 1)) return -1
  let n = 0
  for (let i = from; i < end; i++) {
    const d = s.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}
