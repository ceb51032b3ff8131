import type { Connection, PeerId } from './types.js'

/**
 * The duplicate rule: at most one connection per peer, and both sides keep the same one.
 *
 * The connection whose initiator has the larger peer id (compared byte-wise on the UTF-8 id string)
 * survives. When both connections have the same initiator, or when our own id is unknown, the
 * existing connection is kept (both sides saw it first, so both agree). Before all that, a connection
 * that is not `limited` beats one that is (a direct connection replaces a relayed one; both sides
 * know which is which). Returns true to keep `incoming`.
 */
export function keepIncoming (existing: Connection, incoming: Connection, localPeer: PeerId | undefined): boolean {
  if ((existing.limited === true) !== (incoming.limited === true)) return existing.limited === true
  if (localPeer === undefined || existing.direction === incoming.direction) return false
  const initiator = (c: Connection): PeerId => (c.direction === 'outbound' ? localPeer : c.peer)
  return compareIds(initiator(incoming), initiator(existing)) > 0
}

/** Byte-wise comparison of two ids' UTF-8 encodings. */
export function compareIds (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
