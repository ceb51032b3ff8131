import { PeerwardenError } from '../errors.js'

/** `/ip4/<address>` or `/ip6/<address>`, optionally `/ipcidr/<bits>`: the form js-libp2p's own `allow`/`deny` take. */
const IP_MULTIADDR = /^\/(ip4|ip6)\/([^/]+)(?:\/ipcidr\/(\d{1,3}))?$/

/**
 * The `allow`/`deny` entries of `peerwarden()` in the manager's form. js-libp2p's connection manager
 * takes multiaddrs (`/ip4/10.0.0.0/ipcidr/8`, `/ip6/::1`); the manager takes CIDR strings and peer
 * ids. Rules:
 * - `/ip4/<a>` and `/ip6/<a>` become `<a>` (a /32 or /128), with `/ipcidr/<n>` `<a>/<n>`;
 * - any other entry starting with `/` is refused (`ERR_INVALID_ARGUMENT` naming `name[i]`): a
 *   multiaddr with a port or a transport would otherwise be taken for a peer id and match nothing
 *   (regression: js-libp2p's `/ip4/…/ipcidr/24` form was a peer id to the manager, in silence);
 * - anything else (a CIDR string, a peer id) is passed on as it is; the manager checks it.
 */
export function toAccessEntries (name: string, entries: unknown): unknown {
  if (!Array.isArray(entries)) return entries // the manager's own check names it
  return entries.map((entry: unknown, i) => {
    if (typeof entry !== 'string' || !entry.startsWith('/')) return entry
    const m = IP_MULTIADDR.exec(entry)
    if (m === null) throw PeerwardenError.invalid(`${name}[${i}] must be an IP multiaddr (/ip4/<address>[/ipcidr/<bits>], /ip6/…), a CIDR or a peer id, got ${JSON.stringify(entry)}`)
    const [, family, address, bits] = m
    const colon = address!.includes(':')
    if ((family === 'ip4') === colon) throw PeerwardenError.invalid(`${name}[${i}] holds no ${family === 'ip4' ? 'IPv4' : 'IPv6'} address: ${JSON.stringify(entry)}`)
    return bits === undefined ? address : `${address}/${bits}`
  })
}
