/** What the idle-connections benchmark's holder and dialers share (bench/idle.bench.ts). */

export type IdleRole = 'peerwarden' | 'libp2p' | 'hyperswarm'

/**
 * IDLE_PW_TIMING="<keepAlive>,<deadTimeout>" (ms) in the environment sets both on the holder and the
 * dialers: what the CPU figure owes to the keep-alives. An empty field, or no variable, keeps the
 * node's default.
 */
export function peerwardenTiming (): { keepAlive?: number; deadTimeout?: number } {
  const v = process.env.IDLE_PW_TIMING
  if (v === undefined) return {}
  const [keepAlive, deadTimeout] = v.split(',').map((f) => (f.trim() === '' ? undefined : Number(f)))
  return { ...(keepAlive !== undefined ? { keepAlive } : {}), ...(deadTimeout !== undefined ? { deadTimeout } : {}) }
}
