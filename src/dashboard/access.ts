import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type http from 'node:http'
import { PeerwardenError } from '../errors.js'

/**
 * Who may read the dashboard.
 *
 * Rules:
 * - On a loopback address (127.0.0.0/8, ::1, localhost) no token is needed unless one is given.
 * - Beyond loopback a token is always needed: the one given, else one made at start (24 random bytes,
 *   base64url) and shown in the dashboard's `url`, as Jupyter does. Peer ids and addresses are not
 *   for whoever reaches the port.
 * - A request carries the token as `Authorization: Bearer <token>` (Prometheus' `authorization`
 *   setting) or `?token=<token>` (the page's link, which the page passes on to its own requests).
 *   Tokens are compared in constant time.
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
