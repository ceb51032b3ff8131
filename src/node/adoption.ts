import { PeerwardenError } from '../errors.js'
import type { TypedEventTarget } from '../manager/events.js'
import type { ConnectionManager } from '../manager/types.js'
import * as check from '../manager/validate.js'
import { observerKey, type AdvertisedAddresses } from './advertised.js'
import { NodeConnection } from './connection.js'
import type { NodeEvents } from './types.js'
import { canonicalIp } from '../manager/canonical-ip.js'

/** What the node's connections need of the rest of the node. */
export interface AdoptionHost {
  readonly manager: ConnectionManager
  readonly events: TypedEventTarget<NodeEvents>
  readonly advertised: AdvertisedAddresses
  /** Discovery hears of every connection kept (undefined before the node listens). */
  connected(connection: NodeConnection): void
  /** And of its close, once the manager knows (whether the peer is still connected is then true). */
  disconnected(connection: NodeConnection): void
}

/**
 * The connections the node keeps, and the application protocols served on each.
 *
 * Rules:
 * - Every connection the manager accepts, whoever opened it, is adopted once (the manager's
 *   `accepted` hook): a new peer, or a connection that replaced a duplicate while the peer stayed
 *   connected. Adopting: it counts as live, the remote's view of our IP is noted, 'connection' is
 *   dispatched (applications hang their channels on it, a replacement included), the connection is
 *   told it was accepted, every protocol opens its channel on it, then discovery hears of it. Its
 *   channels opening and closing are reported to the manager (`streamsChanged`).
 * - Its close tells the manager (`disconnected`), then the host (discovery), and, when it was the
 *   peer's last connection, dispatches 'disconnection' (a duplicate that lost the tie-break is no
 *   disconnection).
 * - `serve(name, open)` runs `open` for every live connection now and every later one; a name is
 *   served once.
 */
export class Adoption {
  /** The connections kept now (accepted and not yet closed). */
  readonly live = new Set<NodeConnection>()
  private readonly protocols = new Map<string, (conn: NodeConnection) => void>()

  constructor (private readonly host: AdoptionHost) {}

  /** The manager's `accepted` hook. */
  readonly adopt = (connection: unknown, replaced: boolean): void => {
    if (!(connection instanceof NodeConnection)) return
    const { events } = this.host
    this.live.add(connection)
    this.host.advertised.observe(observerKey(remoteIpOf(connection), connection.peer), connection.observedByRemote)
    connection.onClose(this.closed)
    connection.reportStreams(this.streamsChanged)
    if (listens(events, 'connection')) events.dispatchEvent(new CustomEvent('connection', { detail: { connection, peer: connection.peer, replaced } }))
    connection.accepted()
    for (const open of this.protocols.values()) open(connection)
    this.host.connected(connection)
  }

  /** Serves an application protocol (see `PeerNode.protocol`). */
  serve (name: string, open: (connection: NodeConnection) => void): void {
    check.nonEmptyString('name', name)
    check.fn(`open (the handler of protocol ${JSON.stringify(name)})`, open)
    if (this.protocols.has(name)) throw PeerwardenError.invalid(`protocol ${JSON.stringify(name)} is already served`)
    this.protocols.set(name, open)
    for (const conn of this.live) open(conn)
  }

  /** A connection's application channels changed: the manager re-ranks it (and never samples it before a trim). */
  private readonly streamsChanged = (c: NodeConnection): void => { this.host.manager.streamsChanged(c) }

  private readonly closed = (c: NodeConnection): void => {
    const { manager, events } = this.host
    this.live.delete(c)
    manager.disconnected(c)
    this.host.disconnected(c)
    // A duplicate that lost the tie-break goes while the peer stays: that is no disconnection.
    if (!listens(events, 'disconnection') || manager.getPeer(c.peer)?.connected === true) return
    events.dispatchEvent(new CustomEvent('disconnection', { detail: { peer: c.peer, reason: c.remoteCloseReason ?? c.closeReason } }))
  }
}

/** The manager's event target knows whether anyone listens: no event object is built for nobody. */
export function listens (events: EventTarget, type: string): boolean {
  return (events as unknown as { listens(type: string): boolean }).listens(type)
}

/** The IP the connection's socket reaches the peer at (`canonicalIp`); undefined for a relayed connection (no socket of its own). */
export function remoteIpOf (connection: NodeConnection): string | undefined {
  const ip = (connection.stream.socket as { remoteAddress?: string }).remoteAddress
  return ip === undefined ? undefined : canonicalIp(ip) ?? ip
}
