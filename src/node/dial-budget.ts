import type { Clock } from '../manager/types.js'
import { isLoopback, publicRangeOf, sourceOf } from './inbound-limits.js'
import { parseRelayedAddress } from './relay-client.js'
import { tcpHostPort } from './tcp-address.js'

/** Dials that failed toward one target source (an IPv4 address, the /64 of an IPv6 one) within a minute, at most. */
export const FAILED_DIALS_PER_HOST = 16
/** Dials that failed toward one public range (IPv4 /24, IPv6 /48) within a minute, at most. */
export const FAILED_DIALS_PER_RANGE = 4 * FAILED_DIALS_PER_HOST
/** The window of both budgets (ms). */
export const DIAL_BUDGET_WINDOW = 60_000
/** Targets remembered at most (the oldest is forgotten). */
const MAX_TARGETS = 4096

/**
 * What addresses heard from peers can make us dial: failed dials per target host and range.
 *
 * A referral names any address, and a hint is dialled once per backoff period per address; but
 * 120 referrals a minute of 32 peers of 8 addresses are 30,720 addresses, every port of one host,
 * and a closed port fails at once: one connection made a node send thousands of SYNs a second to a
 * host it named (a reflector, and a port scanner of the node's own network).
 *
 * Rules:
 * - A dial that failed before the remote's manager answered (no TCP connection, no handshake, a
 *   handshake with another peer) counts against its target's source and, for a public address, its
 *   range. A refusal by the remote's manager, a success, or a dial we called off count for nothing.
 * - Past `FAILED_DIALS_PER_HOST` (16) for the source, or `FAILED_DIALS_PER_RANGE` (64) for the
 *   range, within `DIAL_BUDGET_WINDOW` (1 min), a dial there fails, no socket opened
 *   (`ERR_DIAL_FAILED`, cause `'dial-budget'`, counted in `node.stats().dialsOverBudget`; after
 *   100 ms, so that refusals in a row do not hold the event loop) until the window ends; the
 *   manager backs the peer off as for any failed dial.
 * - Exempt: 127.0.0.1 and ::1 (every local node shares them; the rest of 127/8 counts), host names
 *   (not IP literals: never hints), relayed addresses (the relay's budgets hold), and the addresses
 *   whose early refusals are retried (the application's bootstrap nodes).
 */
export class DialBudget {
  /** Dials failed at once for this budget. */
  overBudget = 0
  /** Failures within the current window, by target key (a source, or a range: `publicRangeOf`'s keys never look like a source). */
  private readonly windows = new Map<string, { start: number; failed: number }>()

  constructor (private readonly clock: Clock) {}

  /** The keys `address` counts under (its source, then its public range if any); undefined when it is exempt. */
  keysOf (address: string): string[] | undefined {
    if (parseRelayedAddress(address) !== undefined) return undefined
    const host = tcpHostPort(address)?.host
    if (host === undefined || isLoopback(host)) return undefined
    const source = sourceOf(host)
    if (source === host && !/^[0-9a-f:.]+$/i.test(host)) return undefined
    const range = publicRangeOf(host)
    return range === undefined ? [source] : [source, range]
  }

  /** Whether a dial toward `keys` may go (false: it fails at once, counted). */
  allows (keys: readonly string[]): boolean {
    const now = this.clock.now()
    for (let i = 0; i < keys.length; i++) {
      const w = this.windows.get(keys[i]!)
      if (w === undefined || now - w.start >= DIAL_BUDGET_WINDOW) continue
      if (w.failed >= (i === 0 ? FAILED_DIALS_PER_HOST : FAILED_DIALS_PER_RANGE)) {
        this.overBudget++
        return false
      }
    }
    return true
  }

  /** A dial toward `keys` failed (see the rules). */
  failed (keys: readonly string[]): void {
    const now = this.clock.now()
    for (const key of keys) {
      let w = this.windows.get(key)
      if (w === undefined || now - w.start >= DIAL_BUDGET_WINDOW) {
        this.windows.delete(key)
        if (this.windows.size >= MAX_TARGETS) this.windows.delete(this.windows.keys().next().value!)
        w = { start: now, failed: 0 }
        this.windows.set(key, w)
      }
      w.failed++
    }
  }
}
