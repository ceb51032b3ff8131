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

/**
 * js-libp2p's connection monitor pings every connection every 10 s, all of a node's connections in
 * one burst, and aborts a connection whose ping times out (an adaptive timeout of 5 to 60 s). A holder
 * of thousands on a loaded machine answers a burst slower than that, and aborted connections it had
 * accepted: the pings stay (interval and abort as shipped), their timeout is given 1 to 2 minutes,
 * as the dials are.
 */
export const LIBP2P_MONITOR = { pingTimeout: { minTimeout: 60_000, maxTimeout: 120_000 } }
