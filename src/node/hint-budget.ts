import type { Clock } from '../manager/types.js'
import { isLoopback, publicRangeOf, sourceOf } from './inbound-limits.js'
import { parseRelayedAddress } from './relay-client.js'
import { tcpHostPort } from './tcp-address.js'

/** Distinct ports of one host (an IPv4 address, the /64 of an IPv6 one) the node learns from hints within a window, node-wide. */
export const HINT_PORTS_PER_HOST = 16
/** Distinct ports of one host one connection may teach us within a window. */
export const HINT_PORTS_PER_HOST_PER_CONNECTION = 8
/** Distinct hinted peers of one public range (IPv4 /24, IPv6 /48) the node learns within a window, node-wide. */
export const HINT_PEERS_PER_RANGE = 64
/** Distinct hinted peers of one public range one connection may teach us within a window (a full referral). */
export const HINT_PEERS_PER_RANGE_PER_CONNECTION = 32
/** The window of every hint budget (ms): what was learnt is counted this long. */
export const HINT_BUDGET_WINDOW = 10 * 60_000
/** Hosts and ranges a table remembers at most (node-wide; a quarter of it per connection); the one seen longest ago is forgotten. */
export const MAX_HINT_KEYS = 8192

/** One table of budgets: what was learnt per key within the window. */
type Table = Map<string, { start: number; seen: Set<string> }>

/**
 * What peers may teach us about other peers (referrals, peer exchange, lookup answers, farewells):
 * hinted addresses per host and hinted peers per public range, per connection and node-wide.
 *
 * A referral names any address: 120 referrals a minute of 32 peers of 8 addresses taught a node
 * 30,720 ports of one host, and its dial scheduler kept trying them all (the dial budget held the
 * packets in, not the churn nor the manager's tables).
 *
 * Rules:
 * - An address counts against its host (`sourceOf`: the IPv4 address, the /64 of an IPv6 one) as a
 *   port; a public one also counts its peer against the range (`publicRangeOf`). Counted once per
 *   distinct port or peer within `HINT_BUDGET_WINDOW` (10 min): the same referral heard again is free.
 * - Past `HINT_PORTS_PER_HOST_PER_CONNECTION` (8) new ports of one host from one connection, or
 *   `HINT_PORTS_PER_HOST` (16) node-wide, or `HINT_PEERS_PER_RANGE_PER_CONNECTION` (32) / `HINT_PEERS_PER_RANGE`
 *   (64) peers of one range, the address is dropped and counted (`dropped`); a peer left with no
 *   address is dropped whole.
 * - Exempt: 127.0.0.1 and ::1 (every local node shares them), relayed addresses (the relay's address
 *   is a host of its own: its customers are many peers on one host by design).
 * - Bounded: `MAX_HINT_KEYS` hosts and ranges node-wide and a quarter of it per connection (held
 *   weakly: a closed connection's tables go with it); the one seen longest ago is forgotten first.
 */
export class HintBudget<Conn extends object> {
  /** Hinted addresses dropped over a budget. */
  dropped = 0
  private readonly all: Table = new Map()
  private readonly perConn = new WeakMap<Conn, Table>()

  constructor (private readonly clock: Clock) {}

  /** The addresses of `peer` that `conn` may teach us (counted as learnt); the rest dropped. `conn` undefined: node-wide budgets only. */
  admit (conn: Conn | undefined, peer: string, addresses: readonly string[]): string[] {
    const now = this.clock.now()
    let mine = conn === undefined ? undefined : this.perConn.get(conn)
    if (conn !== undefined && mine === undefined) {
      mine = new Map()
      this.perConn.set(conn, mine)
    }
    const out: string[] = []
    for (const address of addresses) {
      const keys = hintKeysOf(address)
      if (keys === undefined) { out.push(address); continue }
      const [host, port, range] = keys
      const items: Array<[Table, string, string, number]> = [[this.all, host, port, HINT_PORTS_PER_HOST]]
      if (range !== undefined) items.push([this.all, range, peer, HINT_PEERS_PER_RANGE])
      if (mine !== undefined) {
        items.push([mine, host, port, HINT_PORTS_PER_HOST_PER_CONNECTION])
        if (range !== undefined) items.push([mine, range, peer, HINT_PEERS_PER_RANGE_PER_CONNECTION])
      }
      if (!items.every(([table, key, item, max]) => fits(table, key, item, max, now))) {
        this.dropped++
        continue
      }
      for (const [table, key, item] of items) learn(table, key, item, now, table === this.all ? MAX_HINT_KEYS : MAX_HINT_KEYS / 4)
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
  if (hp === undefined || isLoopback(hp.host)) return undefined
  return [sourceOf(hp.host), `${hp.host}:${hp.port}`, publicRangeOf(hp.host)]
}

function fits (table: Table, key: string, item: string, max: number, now: number): boolean {
  const e = table.get(key)
  return e === undefined || now - e.start >= HINT_BUDGET_WINDOW || e.seen.has(item) || e.seen.size < max
}

function learn (table: Table, key: string, item: string, now: number, maxKeys: number): void {
  let e = table.get(key)
  table.delete(key)
  if (e === undefined || now - e.start >= HINT_BUDGET_WINDOW) {
    if (table.size >= maxKeys) table.delete(table.keys().next().value!)
    e = { start: now, seen: new Set() }
  }
  e.seen.add(item)
  table.set(key, e)
}
