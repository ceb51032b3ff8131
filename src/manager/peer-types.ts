import type { PeerId, Priority } from './connection-types.js'

/** A peer as the application (or a transport's discovery) tells the manager about it: `addPeers([...])`. */
export interface PeerInput {
  /** Unknown until the first handshake is fine: the address stands in. */
  id?: PeerId
  address?: string
  addresses?: string[]
  /** Default 'medium'. */
  priority?: Priority
  topics?: string[]
  longTerm?: boolean
  /** Bootstrap peers are dialled only when nothing better is known. */
  bootstrap?: boolean
  /**
   * Default false. True for what a third party told us (peer exchange, a DHT or rendezvous lookup):
   * a claim, not a fact, until the peer proves it by a handshake. Rules:
   * - a hint never takes an address that another known peer holds, and never removes or replaces an
   *   address (a peer we reached directly keeps the addresses its handshake proved);
   * - a hint never gives a peer known by address only an id (no merge);
   * - a hint adds at most 8 addresses per peer and adds topics (never removes them);
   * - a hint may not carry `priority`, `longTerm` or `bootstrap` (refused: those are the application's);
   * - a hint whose id is unknown and whose addresses all belong to other peers creates nothing;
   * - an address learnt from a hint whose dial failed is not dialled again before its backoff ends,
   *   whichever id claims it next (the bookkeeping keys on the address string as given: normalise
   *   spellings before `addPeers`);
   * - a peer known only from hints counts toward `maxPeers`, is the first evicted, and is not
   *   written to the store until it connects or the application names it.
   */
  hint?: boolean
}

/** What the manager knows of a peer: `getPeer`, `listPeers`, the `prioritise` hook. */
export interface PeerInfo {
  id?: PeerId
  addresses: string[]
  priority: Priority
  topics: string[]
  longTerm: boolean
  bootstrap: boolean
  connected: boolean
  protected: boolean
  /** Sum of the peer's tag values, decaying tags included. */
  value: number
  lastConnected?: number
  failures: number
  nextDialAt?: number
}

/** A connection the manager holds, as `listConnections()` lists it. */
export interface ConnectionInfo {
  id: string
  peer: PeerId
  direction: 'inbound' | 'outbound'
  address?: string
  openedAt: number
  value: number
  protected: boolean
}

/** A peer's tags and connections, as `getTagInfo(peer)` gives them (go-libp2p's `TagInfo`). */
export interface TagInfo {
  /** When the manager first heard of the peer (a tag, an add or a connection). */
  firstSeen: number
  value: number
  tags: Record<string, number>
  /** Connection id -> opened at. */
  conns: Record<string, number>
}
