import ipaddr from 'ipaddr.js'
import { MAX_ADDRESS_LENGTH } from './wire.js'

/**
 * One spelling per host and port for an address a peer told us about (a hint): `tcp://` + an IP
 * literal + a port, or undefined when the address is not one we would dial on a hint.
 *
 * Rules:
 * - The host must be an IP literal: IPv4 in four plain decimal parts (no `127.1`, `0x7f.0.0.1`,
 *   `2130706433` or leading zeros), or IPv6 in brackets; an IPv4-mapped IPv6 address becomes the IPv4
 *   one, IPv6 is written in its shortest form. Host names are not taken from peers (a name can point
 *   anywhere and has many spellings).
 * - The port is 1-65535 without leading zeros; a `#<peerId>` suffix is not part of a hint.
 * - Unspecified (0.0.0.0, ::), broadcast and multicast addresses are refused: nobody listens there.
 * - A relayed address is such an address followed by `/relay/<relay's peer id>` (one relay, no more).
 * - An address longer than `MAX_ADDRESS_LENGTH` (256) is refused before it is parsed (a relay of a
 *   relay, nested hundreds of times, was parsed once per level over the whole rest of the string).
 */
export function normaliseHintAddress (address: string): string | undefined {
  if (address.length > MAX_ADDRESS_LENGTH) return undefined
  // A relayed address: the relay's address, normalised, then '/relay/<relay id>'.
  const relayed = /^(.*)\/relay\/([0-9a-f]{64})$/.exec(address)
  if (relayed !== null) {
    const relay = normaliseHintAddress(relayed[1]!)
    return relay === undefined || relay.includes('/relay/') ? undefined : `${relay}/relay/${relayed[2]!}`
  }
  const m = /^tcp:\/\/(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):([1-9]\d{0,4})$/.exec(address)
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  let ip: ipaddr.IPv4 | ipaddr.IPv6
  if (m[2] !== undefined) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(m[2])) return undefined
    ip = ipaddr.IPv4.parse(m[2])
  } else {
    if (!ipaddr.IPv6.isValid(m[1]!)) return undefined
    ip = ipaddr.process(m[1]!)
  }
  const range = ip.range()
  if (range === 'unspecified' || range === 'broadcast' || range === 'multicast') return undefined
  return ip.kind() === 'ipv6' ? `tcp://[${ip.toString()}]:${port}` : `tcp://${ip.toString()}:${port}`
}

/** The hint addresses of a list (normalised, deduplicated, at most `max`), in order. */
export function normaliseHints (addresses: readonly string[], max = 8): string[] {
  const out: string[] = []
  for (const a of addresses) {
    const n = normaliseHintAddress(a)
    if (n !== undefined && !out.includes(n)) out.push(n)
    if (out.length >= max) break
  }
  return out
}
