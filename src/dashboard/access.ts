import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type http from 'node:http'
import { PeerwardenError } from '../errors.js'

/**
 * Who may read the dashboard.
 *
 * Rules:
 * - On a loopback address (127.0.0.0/8, ::1, localhost) no token is needed unless one is given, and
 *   only requests whose `Host` names loopback are served (`loopbackHost`; 403 otherwise): a page on
 *   another site whose name was rebound to 127.0.0.1 (DNS rebinding) sends its own name as `Host`.
 *   The port is not checked: the name is what rebinding cannot fake, and a proxy on loopback may
 *   forward another port.
 * - Beyond loopback a token is always needed: the one given, else one made at start (24 random bytes,
 *   base64url) and shown in the dashboard's `url`, as Jupyter does. Peer ids and addresses are not
 *   for whoever reaches the port.
 * - A request carries the token as `Authorization: Bearer <token>` (Prometheus' `authorization`
 *   setting) or `?token=<token>` (the page's link, which the page passes on to its own requests).
 *   Tokens are compared in constant time.
 * - A request a browser marks as made by another site (`Sec-Fetch-Site: cross-site` or `same-site`:
 *   an <img>, a no-cors fetch or an EventSource of a page the operator opened) is refused 403
 *   before any work (`crossSite`): it could not read the answer, but the node would build it
 *   (a manager with 20,000 peers: 3.6 MB of JSON and ~300 ms per /api/peers) and its event streams
 *   would take the operator's page's places. Requests without the header (curl, Prometheus) and
 *   the page's own (`same-origin`, `none`) are served.
 */
export function dashboardToken (host: string, given: string | undefined, random: (n: number) => Buffer = randomBytes): string | undefined {
  if (given !== undefined) {
    if (typeof given !== 'string' || given.length < 8 || /[\s]/.test(given)) {
      throw PeerwardenError.invalid('token must be a string of at least 8 characters without spaces')
    }
    return given
  }
  return isLoopback(host) ? undefined : random(24).toString('base64url')
}

/** 127.0.0.0/8, ::1 or localhost. */
export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** A `Host` header that names loopback: localhost, 127.0.0.0/8 or [::1], with an optional port. */
export function loopbackHost (host: string | undefined): boolean {
  if (host === undefined) return false
  const m = /^(?:\[([^\]]*)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(host)
  if (m === null) return false
  if (m[1] !== undefined) return m[1] === '::1'
  const name = m[2].toLowerCase()
  if (name === 'localhost') return true
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name)
  return octets !== null && octets.slice(1).every((o) => Number(o) <= 255)
}

/** Did a browser mark the request as made by another site (see the rules)? */
export function crossSite (req: http.IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site']
  return site === 'cross-site' || site === 'same-site'
}

/** Does the request carry `token` (header or query)? */
export function authorized (req: http.IncomingMessage, url: URL, token: string): boolean {
  const header = req.headers.authorization
  const shown = header !== undefined && header.startsWith('Bearer ') ? header.slice(7).trim() : url.searchParams.get('token')
  return shown !== null && sameSecret(shown, token)
}

function sameSecret (a: string, b: string): boolean {
  // Digests first: timingSafeEqual wants equal lengths, and the length must not leak either.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}
