/**
 * The manager's dials of Hyperswarm peers that wait for the swarm's 'connection' event.
 *
 * Rules:
 * - A dial waits per peer key; every waiter of a key settles together: resolved with the connection
 *   the swarm emits for the key, or rejected when the manager refused it, when the swarm's pending
 *   connection closed before opening, or on close().
 * - A pending connection's close is judged one macrotask later: Hyperswarm's deduplication may swap
 *   in the peer's own connection right after it, and the dial then resolves with that one.
 * - An aborted dial leaves its key at once (the others waiting for it stay).
 */
import { PeerwardenError } from '../../errors.js'
import type { Connection } from '../../manager/types.js'
import type { HyperswarmConnection } from './types.js'

interface Waiter { resolve: (conn: Connection) => void; reject: (err: Error) => void }

export class WaitingDials {
  private readonly byPeer = new Map<string, Set<Waiter>>()

  /** @param live the connection the swarm holds for a peer now, if any. */
  constructor (private readonly live: (peer: string) => Connection | undefined) {}

  has (peer: string): boolean { return this.byPeer.has(peer) }

  /** Waits for `peer`'s connection; `start` begins the dial (throwing fails this wait). */
  wait (peer: string, signal: AbortSignal, start: () => void): Promise<Connection> {
    return new Promise<Connection>((resolve, reject) => {
      const onAbort = (): void => { this.leave(peer, waiter); reject(signal.reason) }
      const waiter: Waiter = {
        resolve: (c) => { signal.removeEventListener('abort', onAbort); resolve(c) },
        reject: (e) => { signal.removeEventListener('abort', onAbort); reject(e) }
      }
      let set = this.byPeer.get(peer)
      if (set === undefined) this.byPeer.set(peer, (set = new Set()))
      set.add(waiter)
      signal.addEventListener('abort', onAbort, { once: true })
      try {
        start()
      } catch (err) {
        this.leave(peer, waiter)
        waiter.reject(err instanceof PeerwardenError ? err : new PeerwardenError('ERR_DIAL_FAILED', String(err), { cause: err }))
      }
    })
  }

  /** The swarm emitted `peer`'s connection: takes the waiters out (settle them with `settle`). */
  take (peer: string): Set<Waiter> | undefined {
    const set = this.byPeer.get(peer)
    this.byPeer.delete(peer)
    return set
  }

  settle (waiters: Set<Waiter> | undefined, conn: Connection | undefined, err: Error): void {
    waiters?.forEach((w) => { if (conn !== undefined) w.resolve(conn); else w.reject(err) })
  }

  /** Fails the dials of `peer` if `pending` closes before the swarm emits a connection for it. */
  watch (peer: string, pending: HyperswarmConnection): void {
    const onClose = (): void => {
      setImmediate(() => {
        if (!this.byPeer.has(peer)) return
        this.settle(this.take(peer), this.live(peer), new PeerwardenError('ERR_DIAL_FAILED', `the swarm's connection to ${peer} closed before it opened`))
      })
    }
    if (pending.once !== undefined) pending.once('close', onClose)
    else pending.on('close', onClose)
  }

  close (err: Error): void {
    for (const set of this.byPeer.values()) this.settle(set, undefined, err)
    this.byPeer.clear()
  }

  private leave (peer: string, waiter: Waiter): void {
    const set = this.byPeer.get(peer)
    set?.delete(waiter)
    if (set !== undefined && set.size === 0) this.byPeer.delete(peer)
  }
}
