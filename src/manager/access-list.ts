import ipaddr from 'ipaddr.js'
import { PeerwardenError } from '../errors.js'
import { parseIpParts, toIpaddr } from './canonical-ip.js'
import type { PeerId } from './types.js'

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number]

/**
 * A list of peer ids and IP ranges (the `allow` and `deny` options).
 *
 * Rules:
 * - An entry that parses as an IPv4/IPv6 address or CIDR (`10.0.0.0/8`, `::1`, `fe80::/10`) is a range;
 *   a bare address is its /32 or /128; so is an IP multiaddr (`/ip4/10.0.0.0/ipcidr/8`, `/ip6/::1`),
 *   and any other entry starting with `/` is refused. IPv4 in its dotted form only (`isIpOrRange`):
 *   `42` or `0x1f`, which ipaddr.js would read as IPv4 addresses, are peer ids. Anything else is a
 *   peer id.
 * - A connection matches when its peer id is listed or its remote address holds an IP inside a range.
 *   An IPv4 address written as IPv6 in any spelling (`::ffff:1.2.3.4`, `::ffff:102:304`: see
 *   `canonicalIp`) matches IPv4 ranges.
 * - Entries come from the option at creation and from `add`/`remove` at run time (the manager's
 *   `deny`/`undeny`); a range is removed by any spelling of it (`10.0.0.1` and `10.0.0.1/32` are one).
 */
export class AccessList {
  /** Made on the first id listed (most lists are empty, and every manager has two). */
  private peers: Set<PeerId> | undefined = undefined
  private readonly ranges: Range[] = []

  constructor (name: string, entries: readonly string[]) {
    entries.forEach((entry, i) => { this.add(entry, `${name}[${i}]`) })
  }

  get empty (): boolean { return this.peers === undefined && this.ranges.length === 0 }

  /** Entries held: peer ids and ranges. */
  get size (): number { return (this.peers?.size ?? 0) + this.ranges.length }

  /** Adds a peer id or a range (`field` names it in the error of a malformed CIDR); false when it was there already. */
  add (entry: string, field: string): boolean {
    const range = parseEntry(entry, field)
    if (range === undefined) {
      if (this.hasPeer(entry)) return false
      ;(this.peers ??= new Set()).add(entry)
      return true
    }
    if (this.rangeIndex(range) !== -1) return false
    this.ranges.push(range)
    return true
  }

  /** Removes a peer id or a range (in any spelling of it); false when it was not there. */
  remove (entry: string, field: string): boolean {
    const range = parseEntry(entry, field)
    if (range === undefined) {
      const removed = this.peers?.delete(entry) === true
      if (this.peers?.size === 0) this.peers = undefined
      return removed
    }
    const i = this.rangeIndex(range)
    if (i === -1) return false
    this.ranges.splice(i, 1)
    return true
  }

  private rangeIndex ([ip, bits]: Range): number {
    return this.ranges.findIndex(([b, n]) => n === bits && b.kind() === ip.kind() && ip.match(b as never, bits))
  }

  hasPeer (peer: PeerId | undefined): boolean {
    return peer !== undefined && this.peers?.has(peer) === true
  }

  /** A known peer is denied when its id is listed or every one of its addresses matches (it could not be dialled anywhere else). */
  deniesPeer (peer: { id: PeerId | undefined; addresses: readonly string[] }): boolean {
    if (this.empty) return false
    if (this.hasPeer(peer.id)) return true
    return peer.addresses.length > 0 && peer.addresses.every((a) => this.matches(undefined, a))
  }

  /** True when the peer id is listed or the address's IP falls inside a listed range. */
  matches (peer: PeerId | undefined, address: string | undefined): boolean {
    if (this.hasPeer(peer)) return true
    if (this.ranges.length === 0 || address === undefined) return false
    const ip = parseIp(extractIp(address))
    if (ip === undefined) return false
    for (const [base, bits] of this.ranges) {
      if (ip.kind() === base.kind() && ip.match(base as never, bits)) return true
    }
    return false
  }
}

/**
 * How a transport whose peers are known otherwise than by IP reads a run-time entry of the lists
 * (`deny`, `undeny`, `allow`, `unallow`, a ban by IP or range): it returns the entry as the lists
 * keep it, or throws ERR_INVALID_ARGUMENT naming `field` for one that could never match. Internal:
 * given to `createConnectionManager` under this symbol (`manageSwarm`: public keys in hex).
 */
export const ACCESS_ENTRY = Symbol('peerwarden.accessEntry')

/** The function given under `ACCESS_ENTRY`. */
export type AccessEntry = (entry: string, field: string) => string

/**
 * Checks every entry of a list as the list will read it (a malformed CIDR, a multiaddr that is no IP
 * range: ERR_INVALID_ARGUMENT naming `name[i]`), where the options are checked.
 */
export function checkAccessEntries (name: string, entries: readonly string[]): void {
  entries.forEach((entry, i) => { parseEntry(entry, `${name}[${i}]`) })
}

/** The range an entry is, or undefined for a peer id; a malformed CIDR throws ERR_INVALID_ARGUMENT naming `field`. */
function parseEntry (entry: string, field: string): Range | undefined {
  if (entry.startsWith('/')) return multiaddrRange(entry, field)
  const range = isIpOrRange(entry) ? parseRange(entry) : undefined
  if (range === undefined && entry.includes('/') && /^[0-9a-fA-F.:]+\/\d+$/.test(entry)) {
    throw PeerwardenError.invalid(`${field} is not a valid CIDR: ${JSON.stringify(entry)}`)
  }
  return range
}

/** `/ip4/<address>` or `/ip6/<address>`, optionally `/ipcidr/<bits>`: the form js-libp2p's own allow/deny lists take. */
const IP_MULTIADDR = /^\/(ip4|ip6)\/([^/]+)(?:\/ipcidr\/(\d{1,3}))?$/

/**
 * An entry written as a multiaddr: an IP one is its range; any other (a port, a transport, a
 * `/p2p/` id) throws ERR_INVALID_ARGUMENT naming `field` — taken for a peer id, it would match
 * nothing, in silence.
 */
function multiaddrRange (entry: string, field: string): Range {
  const m = IP_MULTIADDR.exec(entry)
  const range = m === null ? undefined : parseRange(m[3] === undefined ? m[2] : `${m[2]}/${m[3]}`)
  if (m === null || range === undefined || (m[1] === 'ip4') !== (range[0].kind() === 'ipv4')) {
    throw PeerwardenError.invalid(`${field} must be an IP multiaddr (/ip4/<address>[/ipcidr/<bits>], /ip6/…), an IP, a CIDR or a peer id, got ${JSON.stringify(entry)}`)
  }
  return range
}

/**
 * True when `entry` is an IPv4 address in its dotted form or an IPv6 address, optionally with
 * `/bits` (a CIDR): what a ban by IP means. Stricter than the lists' own parsing, which takes every
 * form ipaddr.js does: a peer id such as `42` or `0x1f` is a peer to `setPriority`, not an IP.
 */
export function isIpOrRange (entry: string): boolean {
  const slash = entry.indexOf('/')
  const ip = slash === -1 ? entry : entry.slice(0, slash)
  if (!USUAL_IPV4.test(ip) && !ip.includes(':')) return false
  return parseRange(entry) !== undefined
}

function parseRange (entry: string): Range | undefined {
  try {
    if (entry.includes('/')) return normalise(ipaddr.parseCIDR(entry))
    const ip = parseIp(entry)
    if (ip !== undefined) return [ip, ip.kind() === 'ipv4' ? 32 : 128]
  } catch {
    return undefined
  }
  return undefined
}

/** A CIDR over embedded IPv4 addresses (`::ffff:10.0.0.0/104`) is the IPv4 range (`10.0.0.0/8`). */
function normalise ([ip, bits]: Range): Range {
  if (ip.kind() === 'ipv6' && bits >= 96) {
    const inner = parseIp(ip.toString())
    if (inner !== undefined && inner.kind() === 'ipv4') return [inner, bits - 96]
  }
  return [ip, bits]
}

/** The IP as ipaddr.js holds it, in its canonical form (`canonicalIp`: an IPv4 address written as IPv6 is IPv4). */
function parseIp (text: string | undefined): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const parts = text === undefined ? undefined : parseIpParts(text)
  return parts === undefined ? undefined : toIpaddr(parts)
}

/**
 * The IP inside a remote address: 'tcp://1.2.3.4:5', 'tcp://[::1]:5', '/ip4/1.2.3.4/tcp/5',
 * '/ip6/::1/tcp/5', '1.2.3.4', '::1', '[::1]:5', '1.2.3.4:5', or a multiserver address's first `net:`
 * layer ('net:1.2.3.4:8008~shs:KEY', 'net:[::1]:8008~shs:KEY', alternatives split by ';').
 * Undefined when there is none.
 */
export function extractIp (address: string): string | undefined {
  if (address.startsWith('net:') || address.includes(';net:')) return multiserverIp(address)
  let rest = address
  const scheme = rest.indexOf('://')
  if (scheme !== -1) rest = rest.slice(scheme + 3)
  if (rest.startsWith('/ip4/') || rest.startsWith('/ip6/')) {
    const end = rest.indexOf('/', 5)
    return end === -1 ? rest.slice(5) : rest.slice(5, end)
  }
  const slash = rest.indexOf('/')
  if (slash !== -1) rest = rest.slice(0, slash)
  const hash = rest.indexOf('#')
  if (hash !== -1) rest = rest.slice(0, hash)
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']')
    return close === -1 ? undefined : rest.slice(1, close)
  }
  // HOST:PORT first (an IPv6 address has two colons at least): ipaddr.js tells an invalid address
  // by throwing inside, ~20 µs a call, and this runs for every connection at the bound.
  const colon = rest.lastIndexOf(':')
  if (colon !== -1 && rest.indexOf(':') === colon) {
    const host = rest.slice(0, colon)
    return USUAL_IPV4.test(host) || ipaddr.isValid(host) ? host : undefined
  }
  // Every form ipaddr.js accepts starts with a digit, a hex digit or a colon: a host name or an
  // in-memory address ('mem://n5') is told apart without it (~20 µs a call).
  return MAYBE_IP.test(rest) && ipaddr.isValid(rest) ? rest : undefined
}

/** The first character of any IP literal ipaddr.js accepts (IPv4 in any of its forms, IPv6). */
const MAYBE_IP = /^[0-9a-f:]/i

/** An IPv4 address in its usual dotted form (ipaddr.js also accepts others, at ~10x the cost). */
const USUAL_IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

/** The host of the first `net:HOST:PORT` layer of a multiserver address, when it is an IP. */
function multiserverIp (address: string): string | undefined {
  for (const alternative of address.split(';')) {
    if (!alternative.startsWith('net:')) continue
    const net = alternative.split('~')[0].slice(4)
    const colon = net.lastIndexOf(':')
    if (colon <= 0) return undefined
    let host = net.slice(0, colon)
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
    return ipaddr.isValid(host) ? host : undefined
  }
  return undefined
}
