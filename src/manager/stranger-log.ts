import type { Decision, PeerId } from './types.js'

/**
 * What `explain()` says about peers the manager refused without ever knowing them (denied, closed,
 * over the limit before a record was made), and about peers it forgot at `maxPeers`. Bounded: the `capacity` peers refused most recently are
 * kept, each with its newest `depth` decisions, so a flood of strangers costs bounded memory.
 */
export class StrangerLog {
  // A Map's order is its insertion order: re-inserting on use makes it an LRU.
  private readonly byPeer = new Map<PeerId, Decision[]>()

  constructor (private readonly capacity: number) {}

  get (peer: PeerId): readonly Decision[] | undefined { return this.byPeer.get(peer) }

  add (peer: PeerId, decision: Decision, depth: number): void {
    const list = this.byPeer.get(peer) ?? []
    this.byPeer.delete(peer)
    list.push(decision)
    if (list.length > depth) list.shift()
    this.byPeer.set(peer, list)
    if (this.byPeer.size > this.capacity) this.byPeer.delete(this.byPeer.keys().next().value!)
  }
}
