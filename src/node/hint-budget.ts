import type { Clock } from '../manager/types.js'
import { HINT_LIMITS_DEFAULTS, resolveHintLimits, type HintLimits } from './budget-options.js'
import { ipKeys } from './inbound-limits.js'
import { parseRelayedAddress } from './relay-client.js'
import { tcpHostPort } from './tcp-address.js'
import { WindowedCounts } from './windowed-counts.js'

/** Distinct ports of one host (an IPv4 address, the /64 of an IPv6 one) the node learns from hints within a window, node-wide, by default (`hintLimits.portsPerHost`). */
export const HINT_PORTS_PER_HOST = HINT_LIMITS_DEFAULTS.portsPerHost
/** Distinct ports of one host one connection may teach us within a window, by default (`hintLimits.portsPerHostPerConnection`). */
export const HINT_PORTS_PER_HOST_PER_CONNECTION = HINT_LIMITS_DEFAULTS.portsPerHostPerConnection
/** Distinct hinted peers of one public range (IPv4 /24, IPv6 /48) the node learns within a window, node-wide, by default (`hintLimits.peersPerRange`). */
export const HINT_PEERS_PER_RANGE = HINT_LIMITS_DEFAULTS.peersPerRange
/** Distinct hinted peers of one public range one connection may teach us within a window, by default (`hintLimits.peersPerRangePerConnection`). */
export const HINT_PEERS_PER_RANGE_PER_CONNECTION = HINT_LIMITS_DEFAULTS.peersPerRangePerConnection
/** The window of every hint budget (ms) by default (`hintLimits.window`): what was learnt is counted this long. */
export const HINT_BUDGET_WINDOW = HINT_LIMITS_DEFAULTS.window
/** Hosts and ranges a table remembers at most (node-wide; a quarter of it per connection); see `WindowedCounts` for which is forgotten. */
export const MAX_HINT_KEYS = 8192

/** One table of budgets: per key (a host or a range), the distinct ports or peers learnt within the window. */
type Table = WindowedCounts<Set<string>>

/**
 * What peers may teach us about other peers (referrals, peer exchange, lookup answers, farewells):
 * hinted addresses per host and hinted peers per public range, per connection and node-wide.
 *
 * A referral names any address: 120 referrals a minute of 32 peers of 8 addresses taught a node
 * 30,720 ports of one host, and its dial scheduler kept trying them all (the dial budget held the
 * packets in, not the churn nor the manager's tables).
 *
 * Rules (the figures are `hintLimits`' defaults, budget-options.ts):
 * - An address counts against its host (`sourceOf`: the IPv4 address, the /64 of an IPv6 one) as a
 *   port; a public one also counts its peer against the range (`publicRangeOf`). Counted once per
 *   distinct port or peer within `window` (10 min): the same referral heard again is free.
 * - Past `portsPerHostPerConnection` (8) new ports of one host from one connection, or
 *   `portsPerHost` (16) node-wide, or `peersPerRangePerConnection` (32) / `peersPerRange` (64) peers
 *   of one range, the address is dropped and counted (`dropped`); a peer left with no address is
 *   dropped whole. A figure of 0 learns none; Infinity switches that budget off.
 * - Exempt: 127.0.0.1 and ::1 (every local node shares them), relayed addresses (the relay's address
 *   is a host of its own: its customers are many peers on one host by design).
 * - Bounded: `MAX_HINT_KEYS` hosts and ranges node-wide and a quarter of it per connection (held
 *   weakly: a closed connection's tables go with it). Full, a table forgets an ended window first,
 *   else the least counted key (windowed-counts.ts): flooding it with new hosts does not reset the
 *   budget of a host already counted at its limit.
 */
export class HintBudget<Conn extends object> {
  /** Hinted addresses dropped over a budget. */
  dropped = 0
  private readonly limits: HintLimits
  private readonly all: Table
  private readonly perConn = new WeakMap<Conn, Table>()

  /** `limits` as `createNode`'s `hintLimits` (checked here too: ERR_INVALID_ARGUMENT naming the field). */
  constructor (private readonly clock: Clock, limits?: Partial<HintLimits>) {
    this.limits = resolveHintLimits(limits)
    this.all = this.table(MAX_HINT_KEYS)
  }

  private table (maxKeys: number): Table {
    return new WindowedCounts(maxKeys, this.limits.window, () => new Set<string>())
  }

  /** The addresses of `peer` that `conn` may teach us (counted as learnt); the rest dropped. `conn` undefined: node-wide budgets only. */
  admit (conn: Conn | undefined, peer: string, addresses: readonly string[]): string[] {
    const now = this.clock.now()
    let mine = conn === undefined ? undefined : this.perConn.get(conn)
    if (conn !== undefined && mine === undefined) {
      mine = this.table(MAX_HINT_KEYS / 4)
      this.perConn.set(conn, mine)
    }
    const { portsPerHost, portsPerHostPerConnection, peersPerRange, peersPerRangePerConnection } = this.limits
    const out: string[] = []
    for (const address of addresses) {
      const keys = hintKeysOf(address)
      if (keys === undefined) { out.push(address); continue }
      const [host, port, range] = keys
      const all: Array<[Table, string, string, number]> = [[this.all, host, port, portsPerHost]]
      if (range !== undefined) all.push([this.all, range, peer, peersPerRange])
      if (mine !== undefined) {
        all.push([mine, host, port, portsPerHostPerConnection])
        if (range !== undefined) all.push([mine, range, peer, peersPerRangePerConnection])
      }
      // A budget switched off (Infinity) neither refuses nor keeps anything.
      const items = all.filter(([, , , max]) => max !== Infinity)
      if (!items.every(([table, key, item, max]) => fits(table, key, item, max, now))) {
        this.dropped++
        continue
      }
      for (const [table, key, item] of items) learn(table, key, item, now)
      out.push(address)
    }
    return out
  }

  /** Hosts and ranges remembered node-wide now. */
  get size (): number { return this.all.size }
}

/** `[host, port (the address's IP and port), public range]` of a hinted address; undefined when it is exempt (see `HintBudget`). */
export function hintKeysOf (address: string): [string, string, string | undefined] | undefined {
  if (parseRelayedAddress(address) !== undefined) return undefined
  const hp = tcpHostPort(address)
  if (hp === undefined) return undefined
  const { source, exempt, range } = ipKeys(hp.host)
  return exempt ? undefined : [source, `${hp.host}:${hp.port}`, range]
}

function fits (table: Table, key: string, item: string, max: number, now: number): boolean {
  const e = table.live(key, now)
  return e?.payload.has(item) === true || (e?.count ?? 0) < max
}

function learn (table: Table, key: string, item: string, now: number): void {
  const e = table.open(key, now)
  if (e.payload.has(item)) return
  e.payload.add(item)
  table.add(key)
}
