/**
 * The RPCs the manager counts: one `Connection` per muxrpc connection, reported once and forgotten
 * when it closes.
 *
 * Rules:
 * - Each RPC is reported to `manager.connected()` at most once and, when it was accepted, to
 *   `disconnected()` once when it closes ('closed'). A refused RPC has been closed by the manager.
 * - The peer is the RPC's feed id (`rpc.id`); an RPC without one (a transport that does not say)
 *   takes the one the dialled address names; an RPC with neither is not counted.
 * - Outbound, the address is the dialled multiserver address (the manager files it under the peer:
 *   the handshake proved it); inbound, the RPC's own multiserver address (`net:HOST:PORT~shs:KEY`,
 *   the remote's ephemeral port: what ssb-conn records), which the manager shows in
 *   `listConnections()` and matches against the deny and allow lists by its host, but never files
 *   as a peer's address to dial (it does so for outbound connections only).
 * - `close(reason)` ends the RPC at once (`rpc.close(true)`): muxrpc has no reason field to carry.
 * - Nothing an RPC does can throw out of here: a failing `close` is ignored (the RPC is gone anyway).
 */
import type { Connection, ConnectionManager } from '../../manager/types.js'
import { feedIdOf, isFeedId, isMultiserverAddress } from './addresses.js'
import type { RpcLike } from './types.js'

let nextId = 0
const noop = (): void => {}

/** One counted RPC: its connection, whether the manager accepted it, whether it is still open. */
export interface Tracked { conn: Connection; accepted: boolean; open: boolean }

/** The table of counted RPCs (see the module comment). */
export class RpcConnections {
  private readonly byRpc = new WeakMap<object, Tracked>()
  /** Feed id -> its counted, open connections (at most one once the duplicate rule ran). */
  private readonly byPeer = new Map<string, Set<Tracked>>()

  constructor (private readonly manager: ConnectionManager, private readonly localId: () => string | undefined) {}

  /** The counted connection of `rpc`, if it was reported. */
  get (rpc: RpcLike): Tracked | undefined {
    return this.byRpc.get(rpc)
  }

  /** A connection the manager holds now to `peer` (the duplicate rule's survivor), if any. */
  heldTo (peer: string): Connection | undefined {
    const held = new Set(this.manager.listConnections().map((c) => c.id))
    for (const t of this.byPeer.get(peer) ?? []) if (t.open && t.accepted && held.has(t.conn.id)) return t.conn
    return undefined
  }

  /**
   * Reports `rpc` (once). `dialled` is the address we dialled, when we know it (outbound).
   * Returns what it was made, or undefined when the RPC is not counted (closed, ours, no feed id).
   */
  report (rpc: RpcLike, direction: 'inbound' | 'outbound', dialled?: string): Tracked | undefined {
    if (rpc == null || typeof rpc !== 'object') return undefined
    const known = this.byRpc.get(rpc)
    if (known !== undefined) return known
    if (rpc.closed === true) return undefined
    const streamAddress = rpc.stream?.address
    const dialable = isMultiserverAddress(streamAddress) ? streamAddress : isMultiserverAddress(dialled) ? dialled : undefined
    const peer = isFeedId(rpc.id) ? rpc.id : dialable !== undefined ? feedIdOf(dialable) : undefined
    if (peer === undefined || peer === this.localId()) return undefined
    const address = direction === 'outbound' ? dialable : isMultiserverAddress(streamAddress) ? streamAddress : undefined
    const tracked: Tracked = {
      conn: {
        id: `ssb-${++nextId}`,
        peer,
        direction,
        ...(address !== undefined ? { address } : {}),
        close: () => {
          try { rpc.close(true, noop) } catch {}
        }
      },
      accepted: false,
      open: true
    }
    this.byRpc.set(rpc, tracked)
    let set = this.byPeer.get(peer)
    if (set === undefined) this.byPeer.set(peer, set = new Set())
    set.add(tracked)
    const onClosed = (): void => {
      if (!tracked.open) return
      tracked.open = false
      const peers = this.byPeer.get(peer)
      peers?.delete(tracked)
      if (peers?.size === 0) this.byPeer.delete(peer)
      if (tracked.accepted) this.manager.disconnected(tracked.conn)
    }
    try { rpc.once?.('closed', onClosed) } catch {}
    tracked.accepted = this.manager.connected(tracked.conn)
    // Closed while being reported: refused (the manager closed it), or gone meanwhile.
    const closedNow = (rpc as { closed?: boolean }).closed === true
    if (tracked.open && closedNow) onClosed()
    else if (!tracked.open && tracked.accepted) this.manager.disconnected(tracked.conn)
    return tracked
  }
}
