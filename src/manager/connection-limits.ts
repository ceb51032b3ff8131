import { PeerwardenError } from '../errors.js'
import { extractIp } from './access-list.js'
import { addressRange, DOTTED_QUAD, isRelayedAddress, publicV4Range } from './address-range.js'
import { parseIpParts } from './canonical-ip.js'
import type { ConnectionLimits } from './connection-limit-types.js'
import type { Connection } from './connection-types.js'

export type { ConnectionLimits } from './connection-limit-types.js'

/** `ConnectionLimits` with its defaults filled in. */
export type ResolvedConnectionLimits = Required<ConnectionLimits>

/** The defaults of `connectionLimits`. */
export const CONNECTION_LIMITS: ResolvedConnectionLimits = Object.freeze({ perIp: 8, perRange: 32, local: false })

/** Checks the `connectionLimits` option (ERR_INVALID_ARGUMENT naming the field) and fills in its defaults. */
export function resolveConnectionLimits (value: unknown): ResolvedConnectionLimits {
  if (value === undefined) return CONNECTION_LIMITS
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw PeerwardenError.invalid('connectionLimits must be an object')
  const given = value as Record<string, unknown>
  for (const name of Object.keys(given)) {
    if (!(name in CONNECTION_LIMITS)) throw PeerwardenError.invalid(`connectionLimits: unknown option ${JSON.stringify(name)} (known: perIp, perRange, local)`)
  }
  const count = (name: 'perIp' | 'perRange'): number => {
    const v = given[name] ?? CONNECTION_LIMITS[name]
    if (v === Infinity || (typeof v === 'number' && Number.isInteger(v) && v >= 1)) return v as number
    throw PeerwardenError.invalid(`connectionLimits.${name} must be an integer >= 1 or Infinity, got ${typeof v === 'number' ? v : typeof v}`)
  }
  const local = given.local ?? false
  if (typeof local !== 'boolean') throw PeerwardenError.invalid('connectionLimits.local must be a boolean')
  return { perIp: count('perIp'), perRange: count('perRange'), local }
}

/** Where a connection is counted: its IP's key and its range's (undefined: not counted there). */
interface Keys { ip: string | undefined; range: string | undefined }

const NONE: Keys = Object.freeze({ ip: undefined, range: undefined })

/**
 * The accounted connections by IP and by range (see `ConnectionLimits`), and the question whether one
 * more from an address would cross a cap.
 *
 * Rules:
 * - `add` and `remove` are called once each per accounted connection (connections.ts `attach` and
 *   `leave`); the keys it was counted under are kept with it. A key whose count falls to 0 stays
 *   until more than max(1024, live keys) such keys wait, then they all go at once (deleting and
 *   adding a key back for each connection of a churn was a tenth of its cost): the tables hold at
 *   most twice the accounted connections plus 1024 keys (no budget of their own).
 * - With both caps Infinity nothing is parsed or counted.
 */
export class AddressTally {
  private readonly ips = new Map<string, number>()
  private readonly ranges = new Map<string, number>()
  /** The keys each counted connection was counted under (its address is parsed once). */
  private readonly counted = new WeakMap<Connection, Keys>()
  /** Keys whose count is 0, kept until a sweep. */
  private zeros = 0
  /** The last address taken apart and its keys: a refusal, then its `add`, read the same address. */
  private last: { address: string | undefined; keys: Keys } = { address: undefined, keys: NONE }
  /** Connections refused by a cap since creation (`stats().connectionLimitRefusals`). */
  refusals = 0

  constructor (private readonly limits: ResolvedConnectionLimits) {}

  /** Whether any cap is on. */
  get active (): boolean { return this.limits.perIp !== Infinity || this.limits.perRange !== Infinity }

  /** Why one more connection from `address` crosses a cap (counted as a refusal), or undefined when it fits. */
  refusal (address: string | undefined): string | undefined {
    if (!this.active) return undefined
    const { ip, range } = this.keysOf(address)
    if (ip !== undefined && (this.ips.get(ip) ?? 0) >= this.limits.perIp) {
      this.refusals++
      return `${this.limits.perIp} connections from ${ip} already (connectionLimits.perIp)`
    }
    if (range !== undefined && (this.ranges.get(range) ?? 0) >= this.limits.perRange) {
      this.refusals++
      return `${this.limits.perRange} connections from the range ${range} already (connectionLimits.perRange)`
    }
    return undefined
  }

  /** An accounted connection opened (its keys are kept with it for `remove`). */
  add (conn: Connection): void {
    if (!this.active) return
    const keys = this.keysOf(conn.address)
    if (keys === NONE) return
    this.counted.set(conn, keys)
    const { ip, range } = keys
    if (ip !== undefined) this.increment(this.ips, ip)
    if (range !== undefined) this.increment(this.ranges, range)
  }

  /** Counts one connection more for `key` (a key at 0 is live again). */
  private increment (map: Map<string, number>, key: string): void {
    const n = map.get(key)
    if (n === 0) this.zeros--
    map.set(key, (n ?? 0) + 1)
  }

  /** An accounted connection left. */
  remove (conn: Connection): void {
    const keys = this.counted.get(conn)
    if (keys === undefined) return
    this.counted.delete(conn)
    const { ip, range } = keys
    if (ip !== undefined && decrement(this.ips, ip)) this.zeros++
    if (range !== undefined && decrement(this.ranges, range)) this.zeros++
    if (this.zeros > 1024 && this.zeros > this.size) this.sweep()
  }

  /** Connections counted for `address`'s IP and range now (for tests and explain). */
  countOf (address: string): { ip: number; range: number } {
    const { ip, range } = this.keysOf(address)
    return { ip: ip === undefined ? 0 : this.ips.get(ip) ?? 0, range: range === undefined ? 0 : this.ranges.get(range) ?? 0 }
  }

  /** IPs and ranges counted now. */
  get size (): number { return this.ips.size + this.ranges.size - this.zeros }

  /** Forgets the keys whose count is 0. */
  private sweep (): void {
    for (const map of [this.ips, this.ranges]) for (const [k, n] of map) if (n === 0) map.delete(k)
    this.zeros = 0
  }

  private keysOf (address: string | undefined): Keys {
    if (address === undefined) return NONE
    if (address !== this.last.address) this.last = { address, keys: keysOf(address, this.limits.local) }
    return this.last.keys
  }
}

/** Counts one connection less for `key`; true when its count fell to 0. */
function decrement (map: Map<string, number>, key: string): boolean {
  const n = (map.get(key) ?? 1) - 1
  map.set(key, n)
  return n === 0
}

/** The IP key and range key of `address` (see `ConnectionLimits` for which are exempt). */
export function keysOf (address: string, local: boolean): Keys {
  const text = extractIp(address)
  if (text === undefined) return NONE
  // The usual case, an IPv4 address as a socket reports it: its text is the key, its /24 the text
  // before the last dot (no parse; ~1 µs a connection where the general path took ~10).
  if (DOTTED_QUAD.test(text) && !address.includes('/relay/')) {
    const prefix = text.slice(0, text.lastIndexOf('.'))
    const range = local ? prefix : publicV4Range(prefix)
    return !local && text === '127.0.0.1' ? { ip: undefined, range } : { ip: text, range }
  }
  const parts = parseIpParts(text)
  if (parts === undefined) return NONE
  const range = addressRange(address, !local)
  if (isRelayedAddress(address)) return { ip: undefined, range }
  let ip: string
  if (parts.kind === 'ipv4') {
    ip = parts.octets.join('.')
    if (!local && ip === '127.0.0.1') return { ip: undefined, range }
  } else {
    const p = parts.parts
    if (!local && p.every((g, i) => g === (i === 7 ? 1 : 0))) return { ip: undefined, range }
    // The /56: three groups and the high byte of the fourth.
    ip = `${p[0]!.toString(16)}:${p[1]!.toString(16)}:${p[2]!.toString(16)}:${(p[3]! & 0xff00).toString(16)}::/56`
  }
  return { ip, range }
}
