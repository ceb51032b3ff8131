import type { Reachability } from './types.js'
import type { JoinService } from './discovery-types.js'

/**
 * The well-known topic relays announce themselves on. Its discovery key (as for any topic, only
 * the hash travels) is what a private node looks up to find relays it was not told about.
 */
export const RELAY_TOPIC = 'peerwarden/relays/1'

/** Relays a private node keeps connected through the relay topic's quota (and holds a reservation with: relay-client.ts). */
export const WANTED_RELAYS = 2

/** What the node does with the relay topic now. */
export type RelayTopicRole = 'serve' | 'seek' | 'none'

/**
 * The node's place in the relay topic, from whether it serves as a relay and the dial-back verdict.
 *
 * Rules:
 * - A relay that is not found private announces the topic (declared, no quota of its own): peers
 *   connected to it hand it out to lookups, and rendezvous points register it.
 * - A node found private looks the topic up, hidden (never declared, so nobody hands it out as a
 *   relay), with a manager topic quota of `WANTED_RELAYS`: the manager dials the relays it finds
 *   first, keeps them from trimming while the quota needs them, and counts them within its
 *   watermarks like any connection. The relay client then reserves with them.
 * - Otherwise (public or unknown, not a relay, or a relay found private) the node is not in the topic.
 */
export function relayTopicRole (serving: boolean, reachability: Reachability): RelayTopicRole {
  if (reachability === 'private') return 'seek'
  return serving ? 'serve' : 'none'
}

/** What the relay topic needs of the node (its discovery). */
export interface RelayTopicHost {
  join(topic: string, opts: { announce: boolean; lookup: boolean }, service: JoinService): Promise<void>
  leave(topic: string): Promise<void>
}

/** Joins and leaves the relay topic as `relayTopicRole` says, one change at a time. */
export class RelayTopic {
  private role: RelayTopicRole = 'none'

  constructor (private readonly host: RelayTopicHost) {}

  /** The role now (for stats and tests). */
  get current (): RelayTopicRole { return this.role }

  /** Brings the node's place in the topic in line with the role. Never throws (a join or leave that fails is retried at the next change). */
  update (serving: boolean, reachability: Reachability): void {
    const next = relayTopicRole(serving, reachability)
    if (next === this.role) return
    const previous = this.role
    this.role = next
    const done = (): void => {}
    const then = previous === 'none' ? Promise.resolve() : this.host.leave(RELAY_TOPIC)
    then.then(async () => {
      if (this.role !== next || next === 'none') return
      await this.host.join(RELAY_TOPIC, next === 'serve' ? { announce: true, lookup: false } : { announce: false, lookup: true }, { quota: next === 'serve' ? 0 : WANTED_RELAYS, hidden: next === 'seek' })
    }).then(done, done)
  }
}
