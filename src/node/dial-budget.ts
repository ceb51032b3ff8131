import type { Clock } from '../manager/types.js'
import { FAILED_DIAL_LIMITS_DEFAULTS, resolveFailedDialLimits, type FailedDialLimits } from './budget-options.js'
import { ipKeys } from './inbound-limits.js'
import { parseRelayedAddress } from './relay-client.js'
import { tcpHostPort } from './tcp-address.js'
import { WindowedCounts } from './windowed-counts.js'

/** Dials that failed toward one target source (an IPv4 address, the /64 of an IPv6 one) within a minute, at most, by default (`failedDialLimits.perHost`). */
export const FAILED_DIALS_PER_HOST = FAILED_DIAL_LIMITS_DEFAULTS.perHost
/** Dials that failed toward one public range (IPv4 /24, IPv6 /48) within a minute, at most, by default (`failedDialLimits.perRange`). */
export const FAILED_DIALS_PER_RANGE = FAILED_DIAL_LIMITS_DEFAULTS.perRange
/** The window of both budgets (ms) by default (`failedDialLimits.window`). */
export const DIAL_BUDGET_WINDOW = FAILED_DIAL_LIMITS_DEFAULTS.window
/** Targets remembered at most; full, an ended window is forgotten first, else the target with the fewest failures (windowed-counts.ts). */
const MAX_TARGETS = 4096

/**
 * What addresses heard from peers can make us dial: failed dials per target host and range.
 *
 * A referral names any address, and a hint is dialled once per backoff period per address; but
 * 120 referrals a minute of 32 peers of 8 addresses are 30,720 addresses, every port of one host,
 * and a closed port fails at once: one connection made a node send thousands of SYNs a second to a
 * host it named (a reflector, and a port scanner of the node's own network).
 *
 * Rules (the figures are `failedDialLimits`' defaults, budget-options.ts):
 * - A dial that failed before the remote's manager answered (no TCP connection, no handshake, a
 *   handshake with another peer) counts against its target's source and, for a public address, its
 *   range. A refusal by the remote's manager, a success, or a dial we called off count for nothing.
 * - Past `perHost` (16) failures for the source, or `perRange` (64) for the range, within
 *   `window` (1 min), a dial there fails, no socket opened
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
  private readonly windows: WindowedCounts<undefined>
  private readonly limits: FailedDialLimits

  /** `limits` as `createNode`'s `failedDialLimits` (checked here too: ERR_INVALID_ARGUMENT naming the field). */
  constructor (private readonly clock: Clock, limits?: Partial<FailedDialLimits>) {
    this.limits = resolveFailedDialLimits(limits)
    this.windows = new WindowedCounts(MAX_TARGETS, this.limits.window, () => undefined)
  }

  /** The keys `address` counts under (its source, then its public range if any); undefined when it is exempt. */
  keysOf (address: string): string[] | undefined {
    if (parseRelayedAddress(address) !== undefined) return undefined
    const host = tcpHostPort(address)?.host
    if (host === undefined) return undefined
    const { source, exempt, range, literal } = ipKeys(host)
    if (exempt || !literal) return undefined
    return range === undefined ? [source] : [source, range]
  }

  /** Whether a dial toward `keys` may go (false: it fails at once, counted). */
  allows (keys: readonly string[]): boolean {
    const now = this.clock.now()
    for (let i = 0; i < keys.length; i++) {
      const w = this.windows.live(keys[i]!, now)
      if (w === undefined) continue
      if (w.count >= (i === 0 ? this.limits.perHost : this.limits.perRange)) {
        this.overBudget++
        return false
      }
    }
    return true
  }

  /** A dial toward `keys` failed (see the rules). */
  failed (keys: readonly string[]): void {
    const now = this.clock.now()
    keys.forEach((key, i) => {
      if ((i === 0 ? this.limits.perHost : this.limits.perRange) === Infinity) return // that budget is off
      this.windows.open(key, now)
      this.windows.add(key)
    })
  }
}
