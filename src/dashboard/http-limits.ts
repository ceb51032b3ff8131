import type http from 'node:http'
import type net from 'node:net'
import { isLoopback, sourceOf } from '../manager/canonical-ip.js'

/**
 * The budgets of the dashboard's and the metrics endpoint's HTTP servers: whoever reaches the port
 * can open sockets before any token is checked, and the sockets are the process's file descriptors,
 * which the node's own connections need too.
 *
 * Rules:
 * - At most `MAX_HTTP_SOCKETS` (256) sockets at once; past it a new socket is closed at once (node's
 *   `maxConnections`). A page and its event stream hold a few, a scraper one.
 * - At most `MAX_HTTP_SOCKETS_PER_IP` (32) of one source (an IPv4 address, the /64 of an IPv6 one);
 *   127.0.0.1 and ::1 are exempt (every local client shares them), the rest of 127/8 is not.
 * - A request's headers must arrive within `HTTP_HEADERS_TIMEOUT` (10 s) and the whole request within
 *   `HTTP_REQUEST_TIMEOUT` (30 s), checked every 2 s: a client trickling its headers holds a socket
 *   no longer (node's defaults: 60 s and 300 s, checked every 30 s). Event streams are answers, not
 *   requests: they stay open.
 */
export const MAX_HTTP_SOCKETS = 256
/** See the module's rules. */
export const MAX_HTTP_SOCKETS_PER_IP = 32
/** See the module's rules. */
export const HTTP_HEADERS_TIMEOUT = 10_000
/** See the module's rules. */
export const HTTP_REQUEST_TIMEOUT = 30_000

/** The options `http.createServer` takes for these budgets' timeouts. */
export const HTTP_SERVER_OPTIONS: http.ServerOptions = {
  headersTimeout: HTTP_HEADERS_TIMEOUT,
  requestTimeout: HTTP_REQUEST_TIMEOUT,
  connectionsCheckingInterval: 2_000
}

/** Holds `server` to the socket budgets (the timeouts come with `HTTP_SERVER_OPTIONS`). */
export function limitSockets (server: http.Server): void {
  server.maxConnections = MAX_HTTP_SOCKETS
  const bySource = new Map<string, number>()
  server.on('connection', (socket: net.Socket) => {
    const ip = socket.remoteAddress
    if (ip === undefined || isLoopback(ip)) return
    const source = sourceOf(ip)
    const held = bySource.get(source) ?? 0
    if (held >= MAX_HTTP_SOCKETS_PER_IP) { socket.destroy(); return }
    bySource.set(source, held + 1)
    socket.once('close', () => {
      const n = (bySource.get(source) ?? 1) - 1
      if (n <= 0) bySource.delete(source)
      else bySource.set(source, n)
    })
  })
}
