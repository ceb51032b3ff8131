/**
 * What `peerwarden/libp2p` keeps in step between libp2p's peer store and the manager: addresses,
 * quota membership and tags. Rules:
 * - A peer's addresses are multiaddr strings ending in `/p2p/<id>` (what the manager dials), at most
 *   `MAX_PEER_ADDRESSES` from one event (a discovery record is what a third party says).
 * - Only members are remembered here (a peer in no quota topic takes no entry: every peer that
 *   identifies would otherwise stay in the table for good).
 * - A peer that speaks a quota's protocol (identify) belongs to the manager topic `protocol:<p>`; a
 *   peer subscribed to a quota's pubsub topic to `pubsub:<t>`. Membership changes only those topics:
 *   the peer's other topics in the manager are kept. With `protect: true`, members are protected
 *   under the topic's name, and unprotected when they leave it.
 * - Tags in libp2p's peer store are mirrored as `libp2p:<name>` manager tags (removed when libp2p
 *   drops them); a `keep-alive*` tag (libp2p redials such peers itself) protects the peer as
 *   `libp2p:keep-alive`, so the manager never trims what libp2p would redial.
 */
import type { ConnectionManager, PeerInput } from '../manager/types.js'

export interface PeerIdLike { toString(): string }
export interface MultiaddrLike { toString(): string }
/** A libp2p peer-store record, as far as it is read here. */
export interface Libp2pPeer {
  readonly id: PeerIdLike
  readonly addresses?: ReadonlyArray<{ multiaddr: MultiaddrLike }>
  readonly protocols?: readonly string[]
  readonly tags?: ReadonlyMap<string, { value: number }>
}

/** A quota for the peers of one protocol or pubsub topic. */
export interface MemberQuota {
  /** The manager dials members until this many are connected and never trims below it. */
  min: number
  /** Members above this count are trimmed first. */
  max?: number
  /** Members are protected (never trimmed) while they are members. Default false. */
  protect?: boolean
}

export const PROTOCOL = 'protocol:'
export const PUBSUB = 'pubsub:'
const KEEP_ALIVE = 'keep-alive'
const KEEP_ALIVE_PROTECTION = 'libp2p:keep-alive'
const TAG_PREFIX = 'libp2p:'
/** Addresses taken for one peer from one discovery event or peer-store record. */
export const MAX_PEER_ADDRESSES = 16

/** The multiaddr string the manager dials: `addr` ending in `/p2p/<peer>`. */
export function dialAddress (addr: string, peer: string): string {
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${peer}`
}

export class PeerSync {
  /** peer -> the quota topics it belongs to. */
  private readonly members = new Map<string, Set<string>>()
  /** peer -> the libp2p tags mirrored last time. */
  private readonly mirrored = new Map<string, Map<string, number>>()

  /** `quotas` maps manager topics (`protocol:…`, `pubsub:…`) to their quotas. */
  constructor (
    private readonly manager: ConnectionManager,
    private readonly localPeer: string,
    readonly quotas: ReadonlyMap<string, MemberQuota>
  ) {}

  /** A peer from 'peer:discovery'. */
  discovered (id: PeerIdLike, multiaddrs: readonly MultiaddrLike[]): void {
    const peer = id.toString()
    if (peer === this.localPeer || multiaddrs.length === 0) return
    this.manager.addPeers([{ id: peer, addresses: multiaddrs.slice(0, MAX_PEER_ADDRESSES).map((m) => dialAddress(m.toString(), peer)) }])
  }

  /** Addresses, protocol membership and tags of a libp2p peer-store record. */
  learn (record: Libp2pPeer): void {
    const peer = record.id.toString()
    if (peer === this.localPeer) return
    const input: PeerInput = { id: peer }
    const addresses = (record.addresses ?? []).slice(0, MAX_PEER_ADDRESSES).map((a) => dialAddress(a.multiaddr.toString(), peer))
    if (addresses.length > 0) input.addresses = addresses
    let next: Set<string> | undefined
    if (record.protocols !== undefined) {
      const speaks = new Set(record.protocols)
      next = new Set([...this.membership(peer)].filter((t) => !t.startsWith(PROTOCOL)))
      for (const topic of this.quotas.keys()) if (topic.startsWith(PROTOCOL) && speaks.has(topic.slice(PROTOCOL.length))) next.add(topic)
    }
    if (!this.update(peer, next, input) && (input.addresses !== undefined || this.manager.getPeer(peer) !== undefined)) {
      this.manager.addPeers([input])
    }
    if (record.tags !== undefined) this.mirrorTags(peer, record.tags)
  }

  /** A pubsub (un)subscription of `peer` to the manager topic `topic` (`pubsub:…`). */
  subscribe (peer: string, topic: string, subscribed: boolean): void {
    if (!this.quotas.has(topic) || peer === this.localPeer) return
    const next = new Set(this.membership(peer))
    if (subscribed) next.add(topic)
    else next.delete(topic)
    this.update(peer, next, { id: peer })
  }

  private membership (peer: string): Set<string> {
    let set = this.members.get(peer)
    if (set === undefined) {
      // First sight in this run: the topics the manager already holds (a persistent store) count.
      set = new Set((this.manager.getPeer(peer)?.topics ?? []).filter((t) => this.quotas.has(t)))
      if (set.size > 0) this.members.set(peer, set)
      for (const topic of set) if (this.quotas.get(topic)?.protect === true) this.manager.protect(peer, topic)
    }
    return set
  }

  /**
   * Sets `peer`'s quota topics to `next` (when given and different) along with `input`, keeping its
   * other topics, and (un)protects it accordingly. Returns false when nothing was told the manager.
   */
  private update (peer: string, next: Set<string> | undefined, input: PeerInput): boolean {
    const current = this.membership(peer)
    if (next === undefined || (current.size === next.size && [...next].every((t) => current.has(t)))) return false
    if (next.size > 0) this.members.set(peer, next)
    else this.members.delete(peer)
    const others = (this.manager.getPeer(peer)?.topics ?? []).filter((t) => !this.quotas.has(t))
    this.manager.addPeers([{ ...input, topics: [...others, ...next] }])
    for (const [topic, q] of this.quotas) {
      if (q.protect !== true) continue
      if (next.has(topic)) this.manager.protect(peer, topic)
      else this.manager.unprotect(peer, topic)
    }
    return true
  }

  private mirrorTags (peer: string, tags: ReadonlyMap<string, { value: number }>): void {
    const before = this.mirrored.get(peer) ?? new Map<string, number>()
    const now = new Map<string, number>()
    let keepAlive = false
    for (const [name, tag] of tags) {
      if (name.startsWith(KEEP_ALIVE)) keepAlive = true
      const value = typeof tag?.value === 'number' && Number.isFinite(tag.value) ? tag.value : 0
      now.set(name, value)
      if (before.get(name) !== value) this.manager.tagPeer(peer, TAG_PREFIX + name, value)
    }
    for (const name of before.keys()) if (!now.has(name)) this.manager.untagPeer(peer, TAG_PREFIX + name)
    if (now.size > 0) this.mirrored.set(peer, now)
    else this.mirrored.delete(peer)
    if (keepAlive) this.manager.protect(peer, KEEP_ALIVE_PROTECTION)
    else if (before.size > 0) this.manager.unprotect(peer, KEEP_ALIVE_PROTECTION)
  }
}
