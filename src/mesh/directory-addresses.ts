import { extractIp } from '../manager/access-list.js'
import { formatTcpAddress, parseTcpAddress } from '../node/tcp-address.js'
import { canonicalIp } from '../manager/canonical-ip.js'

/** Addresses on another host than the registering connection's that one directory entry keeps at most. */
export const MAX_FOREIGN_ADDRESSES = 2

/** An IP as compared here: its canonical form (`canonicalIp`: an IPv4 address written as IPv6 is IPv4). */
function hostOf (address: string): string | undefined {
  const ip = extractIp(address)
  return ip === undefined ? undefined : canonicalIp(ip)
}

/**
 * What the registry lists of the addresses a member registered: `addresses` with the proven ones
 * first, and how many at the end are unproven (`unproven`).
 *
 * Rules:
 * - An address is proven when its host is the IP the registry sees the member's connection come
 *   from (`observed`, as the connection's address: 'tcp://ip:port'): the member is there. Every
 *   other one (another IP, a name, no IP) is the member's word: it may point at a third party, and
 *   every related member would dial it.
 * - A wildcard host (`tcp://0.0.0.0:port`, `tcp://[::]:port`: a member listening on every interface
 *   registers its bound address) becomes the observed IP at that port, proven: dialled as it was, it
 *   would reach each dialler's own host.
 * - Proven addresses keep their order and all stay (once each); at most `MAX_FOREIGN_ADDRESSES` unproven ones
 *   follow, in the member's order (a member behind NAT or a load balancer needs one or two).
 * - Members add the unproven ones as hints (registration.ts): a hint never takes another known
 *   peer's address, and a failed one is not dialled again before its backoff ends, whoever lists it.
 */
export function vetAddresses (addresses: readonly string[], observed: string): { addresses: string[]; unproven: number } {
  const seen = hostOf(observed)
  const proven: string[] = []
  const foreign: string[] = []
  for (const given of addresses) {
    const host = hostOf(given)
    const a = seen !== undefined && (host === '0.0.0.0' || host === '::') ? atHost(given, seen) ?? given : given
    if (seen !== undefined && hostOf(a) === seen) { if (!proven.includes(a)) proven.push(a) } else if (foreign.length < MAX_FOREIGN_ADDRESSES) foreign.push(a)
  }
  return { addresses: [...proven, ...foreign], unproven: foreign.length }
}

/** `address` ('tcp://host:port') at `host` instead; undefined when it is not such an address. */
function atHost (address: string, host: string): string | undefined {
  try {
    return formatTcpAddress(host, parseTcpAddress(address).port)
  } catch {
    return undefined
  }
}

/** An entry's addresses split as the registry vetted them (all proven when it says nothing: an older registry). */
export function provenSplit (entry: { addresses: string[]; unproven?: number }): { proven: string[]; unproven: string[] } {
  const k = Math.min(entry.unproven ?? 0, entry.addresses.length)
  return { proven: entry.addresses.slice(0, entry.addresses.length - k), unproven: entry.addresses.slice(entry.addresses.length - k) }
}
