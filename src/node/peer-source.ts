import { extractIp } from '../manager/access-list.js'
import { addressRange, isRelayedAddress } from '../manager/address-range.js'
import { isLoopback, sourceOf } from '../manager/canonical-ip.js'

/**
 * Where a connected peer's share of a budget is counted, from its connection's address, so that the
 * budget follows the host and not the connection or the identity (both free to make anew): the public
 * range of a public address (IPv4 /24, IPv6 /48; a relayed peer's is its relay's followed by
 * `/relayed`), else its IP (an IPv6 /64); undefined for 127.0.0.1 and ::1 (every local peer shares
 * them: exempt, as from the per-IP rules of the transport), and for a connection without an address. Used by the lookup answer budget
 * (topic-answers.ts) and the peer-exchange budget (pex-budget.ts).
 */
export function peerSource (address: string | undefined): string | undefined {
  if (typeof address !== 'string') return undefined
  const range = addressRange(address, true)
  if (range !== undefined) return `range:${range}`
  const ip = extractIp(address)
  if (ip === undefined || isLoopback(ip)) return undefined
  return isRelayedAddress(address) ? `${sourceOf(ip)}/relayed` : sourceOf(ip)
}
