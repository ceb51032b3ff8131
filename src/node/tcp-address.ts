import { PeerwardenError } from '../errors.js'
import type { PeerId } from '../manager/types.js'

/** 'tcp://host:port' (optionally '#<peerId>') → its parts. */
export function parseTcpAddress (address: string): { host: string; port: number; peer?: PeerId } {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/#]+):(\d+)(?:#([0-9a-f]{64}))?$/i.exec(address)
  if (m === null) throw PeerwardenError.invalid(`not a tcp address: ${JSON.stringify(address)} (expected tcp://host:port or tcp://host:port#<peerId>)`)
  const port = Number(m[2])
  if (port < 0 || port > 65535) throw PeerwardenError.invalid(`port out of range in ${address}`)
  return { host: m[1].replace(/^\[|\]$/g, ''), port, peer: m[3]?.toLowerCase() }
}

/** host and port → 'tcp://host:port' (an IPv6 host in brackets). */
export function formatTcpAddress (host: string, port: number): string {
  return host.includes(':') ? `tcp://[${host}]:${port}` : `tcp://${host}:${port}`
}

/**
 * The host (without brackets) and the port as written of a `tcp://host:port` address, whatever
 * follows a '#'; undefined when it is not one. Never throws: for addresses heard from peers, which
 * the budgets count before anything dials them.
 */
export function tcpHostPort (address: string): { host: string; port: string } | undefined {
  const m = /^tcp:\/\/(?:\[([^\]]+)\]|([^:/#]+)):(\d+)(?:#.*)?$/i.exec(address)
  return m === null ? undefined : { host: (m[1] ?? m[2])!, port: m[3]! }
}

/** Whether a listen host is this machine only ('localhost', ::1, 127/8): nobody outside could dial it. */
export function isLoopbackHost (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}
