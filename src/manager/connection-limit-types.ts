/**
 * The `connectionLimits` option of `createConnectionManager`: how many accounted connections one IP
 * and one public address range may hold, whatever the watermarks (go-libp2p's resource manager holds
 * 8 per IPv4 address and per IPv6 /56, and 64 per IPv6 /48; we hold 8 and 32, and 32 per IPv4 /24).
 *
 * Rules:
 * - Counted: every connection the manager accounts (inbound and outbound, as go-libp2p counts), by
 *   its `address` as the transport reported it. A transport that reports no address with an IP
 *   (a Hyperswarm key, an in-memory address) is not limited: nothing tells where it comes from.
 * - An IP is an IPv4 address (however it is spelt, `::ffff:1.2.3.4` too) or the /56 of an IPv6
 *   address (what one subscriber is usually given); a range is the /24 of an IPv4 address or the /48
 *   of an IPv6 one. A relayed address (`…/relay/<id>`) has no IP of its own: only its range counts,
 *   the relay's followed by `/relayed`.
 * - Exempt unless `local` is true: 127.0.0.1 and ::1 from the per-IP cap (every local peer shares
 *   them; the rest of 127/8 counts like any address), and loopback, private and other non-public
 *   ranges from the per-range cap (one machine or one LAN).
 * - Never refused by it (but counted): allow-listed, protected, permanent and long-term peers and
 *   connections the application dials (`connectNow`). The application named them; a host full of
 *   an attacker's identities must not keep them out.
 * - At a cap the newcomer is refused (`'over-limit'`), never one of the IP's connections evicted:
 *   the identities of one host are interchangeable, and an eviction would let a host rotate its
 *   identities through our places.
 */
export interface ConnectionLimits {
  /** Connections of one IP (an IPv4 address, an IPv6 /56): an integer >= 1, or Infinity. Default 8. */
  perIp?: number
  /** Connections of one public address range (an IPv4 /24, an IPv6 /48): an integer >= 1, or Infinity. Default 32. */
  perRange?: number
  /** Count 127.0.0.1, ::1 and non-public ranges too. Default false. */
  local?: boolean
}
