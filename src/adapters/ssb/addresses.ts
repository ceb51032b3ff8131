/**
 * SSB feed ids and multiserver addresses: the pure checks the plugin and the standalone manager share.
 *
 * Rules:
 * - A feed id is `@` + base64 of a 32-byte ed25519 key + `.ed25519` (53 characters; ssb-ref's rule).
 *   It holds `/`, `+` and `=`: it is a peer id to the manager, never an address.
 * - A multiserver address is one or more `;`-separated alternatives of `~`-separated layers of
 *   `:`-separated fields, e.g. `net:127.0.0.1:8008~shs:<base64 key>`. The peer an address names is its
 *   `shs` layer's key (the first alternative that has one), which must decode to 32 bytes.
 * - Addresses come from peers too (gossiped pub lists): nothing here throws on any input, and the
 *   length of what is parsed is bounded.
 */

import { PeerwardenError } from '../../errors.js'
import { isIpOrRange } from '../../manager/access-list.js'

/** ssb-ref's feed id rule: 43 base64 characters, the last with its low bits zero, then `=.ed25519`. */
const FEED_ID = /^@[A-Za-z0-9/+]{42}[AEIMQUYcgkosw048]=\.ed25519$/
/** The longest multiserver address accepted (a pub with a few alternatives fits well within it). */
export const MAX_ADDRESS_LENGTH = 1024

/** Whether `s` is an SSB feed id (`@…=.ed25519`). */
export function isFeedId (s: unknown): s is string {
  return typeof s === 'string' && FEED_ID.test(s)
}

/** The feed id whose key the address's `shs` layer names, or undefined when it names none (or a malformed one). */
export function feedIdOf (address: string): string | undefined {
  if (typeof address !== 'string' || address.length === 0 || address.length > MAX_ADDRESS_LENGTH) return undefined
  for (const alternative of address.split(';')) {
    for (const layer of alternative.split('~')) {
      if (!layer.startsWith('shs:')) continue
      const key = layer.slice(4).split(':')[0]
      const id = `@${key}.ed25519`
      return isFeedId(id) ? id : undefined
    }
  }
  return undefined
}

/**
 * Whether `s` looks like a multiserver address: within the length bound, and every alternative has
 * a transport layer (`name:…`) and a named layer after every `~`. secret-stack's own parser decides
 * the rest when it dials.
 */
export function isMultiserverAddress (s: unknown): s is string {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_ADDRESS_LENGTH) return false
  return s.split(';').every((alternative) => alternative.split('~').every((layer) => /^[a-z][a-z0-9-]*:./i.test(layer)))
}

/**
 * A run-time entry of the manager's lists under peerwarden/ssb (the manager's `ACCESS_ENTRY`): a feed
 * id, an IP or a CIDR (or an IP multiaddr) as it is; a multiserver address is the feed id its `shs`
 * key names. Anything else would be taken for a peer id no connection has: ERR_INVALID_ARGUMENT naming `field`.
 */
export function ssbAccessEntry (entry: string, field: string): string {
  if (FEED_ID.test(entry) || isIpOrRange(entry) || entry.startsWith('/')) return entry
  const id = isMultiserverAddress(entry as unknown) ? feedIdOf(entry) : undefined
  if (id !== undefined) return id
  throw PeerwardenError.invalid(`${field} must be a feed id (@…=.ed25519), an IP, a CIDR or a multiserver address naming a key under peerwarden/ssb, got ${JSON.stringify(entry.slice(0, 100))}`)
}
