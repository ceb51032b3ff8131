import ipaddr from 'ipaddr.js'
import { extractIp } from './access-list.js'
import { parseIpParts, toIpaddr } from './canonical-ip.js'

/**
 * The address range an address is counted in where one range must not weigh more than another
 * (sybils are cheap in one range, not across many): the /24 of an IPv4 address, the /48 of an IPv6
 * one (an IPv4 address written as IPv6, in any spelling, is its IPv4 address: `canonicalIp`).
 * `publicOnly`: only public unicast IPs have a range (loopback, private, link-local and reserved ones
 * are undefined: one machine or one LAN).
 * Undefined for an address without an IP literal. A relayed address (`tcp://relay:port/relay/<id>`)
 * is in the relay's range followed by `/relayed`: the relay's customers share one range of their
 * own, not the relay's (nor its budget), and they are public or not as the relay is.
 */
export function addressRange (address: string, publicOnly = false): string | undefined {
  const range = ipRange(address, publicOnly)
  return range !== undefined && isRelayedAddress(address) ? `${range}/relayed` : range
}

/**
 * Whether `address` is a relayed one (a relay's address then `/relay/<relay's id>`): the peer is not
 * at the relay's IP, so its range is the relay's with `/relayed` (see `addressRange`).
 */
export function isRelayedAddress (address: string): boolean {
  return address.includes('/relay/') && RELAYED.test(address)
}

/** The end of a relayed address (src/node/relay-client.ts `RELAYED_ADDRESS`). */
const RELAYED = /\/relay\/[0-9a-f]{64}$/

/** The range of the IP in `address` (see `addressRange`), relayed or not. */
function ipRange (address: string, publicOnly: boolean): string | undefined {
  const text = extractIp(address)
  if (text === undefined) return undefined
  if (DOTTED_QUAD.test(text)) {
    const prefix = text.slice(0, text.lastIndexOf('.'))
    return publicOnly ? publicV4Range(prefix) : prefix
  }
  // Any other spelling (IPv4 written as IPv6, hex, upper case, a zone id): its canonical parts.
  const ip = parseIpParts(text)
  if (ip === undefined) return undefined
  if (publicOnly && toIpaddr(ip).range() !== 'unicast') return undefined
  return ip.kind === 'ipv4' ? ip.octets.slice(0, 3).join('.') : ip.parts.slice(0, 3).map((p) => p.toString(16)).join(':')
}

/**
 * Newcomers that took a place at the bound, by address range (see `addressRange`, public IPs only),
 * until their grace period ends.
 *
 * Rules:
 * - A newcomer in its grace period is never trimmed, so it never gives way to the next newcomer: N
 *   of them arriving within one grace period took N places, and a burst of sybils from one range
 *   took every slot of a node at the bound (an eclipse). So at the bound, a stranger (neither forced
 *   nor allow-listed) from a range whose last newcomer took a place less than `gracePeriod` ago is
 *   refused ('over-limit'). Once that one's grace ends it ranks as the newest peer, usually the first
 *   to give way to the next: a range holds about one place it took, not all of them.
 * - Newcomers from other ranges, on loopback or a private network, or without an IP are not limited.
 * - A budget: one entry per range that took a place within the last `gracePeriod`, at most
 *   `MAX_RANGES`; past it the oldest goes. The entries are kept oldest first, so a newcomer drops
 *   the expired ones from the front and stops at the first that is not: O(1) amortized per
 *   newcomer, however many ranges a flood comes from (a scan of the whole table per newcomer cost
 *   ~15 µs each once it was full).
 */
export class EvictionRanges {
  /** When each range's wait ends, oldest entry first (a range that takes a place again moves last). */
  private until: Map<string, number> | undefined = undefined
  /** The last address asked about and its range: `evicted()` follows `mayEvict()` for the same newcomer. */
  private lastAddress: string | undefined = undefined
  private lastRange: string | undefined = undefined

  /** May a stranger at `address` take a place now? */
  mayEvict (address: string | undefined, now: number): boolean {
    const range = this.rangeOf(address)
    return range === undefined || (this.until?.get(range) ?? -Infinity) <= now
  }

  /** A newcomer at `address` took a place now; its range waits `gracePeriod`. */
  evicted (address: string | undefined, now: number, gracePeriod: number): void {
    const range = this.rangeOf(address)
    if (range === undefined || gracePeriod <= 0) return
    const until = this.until ??= new Map()
    until.delete(range)
    // Expired entries first (oldest first: an entry's end is its start plus gracePeriod), then the
    // oldest while over the budget.
    for (const k of until.keys()) {
      if (until.get(k)! > now && until.size < MAX_RANGES) break
      until.delete(k)
    }
    until.set(range, now + gracePeriod)
  }

  /** How many ranges wait now (expired entries included until a newcomer drops them). */
  get size (): number { return this.until?.size ?? 0 }

  private rangeOf (address: string | undefined): string | undefined {
    if (address === undefined) return undefined
    if (address !== this.lastAddress) {
      this.lastRange = addressRange(address, true)
      this.lastAddress = address
    }
    return this.lastRange
  }
}

/** An IPv4 address in its usual form (tested, not matched: its /24 is the text before the last dot, no match array). */
export const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

/** Whether a /24 is public unicast, by its first three octets (every special IPv4 range is a /24 or wider). */
const publicV4 = new Map<string, boolean>()

/** The /24 `prefix` ("a.b.c") when it is public unicast; remembered (at most 4,096 prefixes, then forgotten all at once). */
export function publicV4Range (prefix: string): string | undefined {
  let pub = publicV4.get(prefix)
  if (pub === undefined) {
    if (publicV4.size >= 4096) publicV4.clear()
    // From the octets the expression has checked already: no second parse of the text.
    const [a, b, c] = prefix.split('.')
    pub = new ipaddr.IPv4([+a!, +b!, +c!, 1]).range() === 'unicast'
    publicV4.set(prefix, pub)
  }
  return pub ? prefix : undefined
}

/** Ranges remembered at most (each one a place taken within a grace period). */
export const MAX_RANGES = 1024
