/** What the idle-connections benchmark's holder and dialers share (bench/idle.bench.ts). */

/**
 * A contestant. 'floor' is no stack: plain TCP sockets, the holder writing 20 bytes on each
 * connection once per peerwarden's default keep-alive period (`FLOOR_PERIOD_MS`) from one shared
 * timer and each dialer echoing them: what one keep-alive exchange costs the holder with nothing
 * above the kernel and node:net, the floor peerwarden's figure is read against.
 */
export type IdleRole = 'peerwarden' | 'libp2p' | 'hyperswarm' | 'floor'

/** The floor's period: peerwarden's default keep-alive (45 % of the 20 s `deadTimeout`). */
export const FLOOR_PERIOD_MS = 9_000
/** The floor's message: the size of a peerwarden keep-alive frame (a 4-byte length and a 16-byte tag). */
export const FLOOR_BYTES = 20

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
