/**
 * Public types of `peerwarden/node`: the node's options, events, stats and the `PeerNode` it is.
 */
import type { Logger } from '../logger.js'
import type { ManagerEvents, TypedEventTarget } from '../manager/events.js'
import type { ConnectionInfo, ConnectionManager, ConnectionManagerOptions, ManagerStats, PeerId } from '../manager/types.js'
import type { FailedDialLimits, HintLimits } from './budget-options.js'
import type { NodeConnection } from './connection.js'
import type { RelayLimits } from './relay.js'
import type { RendezvousLimits } from './rendezvous.js'
import type { TransportStats } from './transport.js'

/** The events on `node.events`: the manager's, and the node's own. */
export interface NodeEvents extends ManagerEvents {
  /** A connection the node keeps (also one that replaced a duplicate while the peer stayed connected). */
  'connection': { connection: NodeConnection; peer: PeerId; replaced: boolean }
  /** The peer's last connection went; `reason` is the close reason, the remote's when it gave one. */
  'disconnection': { peer: PeerId; reason?: string }
  /** An inbound connection failed Noise, the network key or the handshake deadline. */
  'handshake:failed': { address: string; error: Error }
  /** A peer sent a message its decoder refused (or whose handling failed): its connection closes with 'protocol'. */
  'protocol:error': { peer: PeerId; address: string; reason: string }
  /** The dial-back check's verdict changed (see `Reachability`); `advertised` is what the node tells peers now. */
  'reachability': { reachability: Reachability; advertised: string[] }
}

/**
 * Whether peers can dial us at the addresses we tell them, as the dial-back check found
 * (dial-back.ts): `public` (peers dialled back and reached us), `private` (they could not, and none
 * could), `unknown` (not enough answers yet, or `announce` given).
 */
export type Reachability = 'public' | 'private' | 'unknown'

/** The options of `createNode`: identity, addresses, network key, the manager's options, the data directory and the budgets. */
export interface NodeOptions {
  /** 32-byte seed for the ed25519 key pair (a string is hashed); default: loaded from dataDir, else generated. */
  seed?: Uint8Array | string
  /** Where the key pair and the peer store live; default: memory only. */
  dataDir?: string
  /** Default ['tcp://127.0.0.1:0']. */
  listen?: string[]
  /**
   * The addresses to tell peers, instead of the default: the listen addresses with wildcards
   * (0.0.0.0, ::) expanded to the interfaces' addresses, plus the address peers observe (an IP that
   * two peers agree on). 'tcp://host:port' each.
   */
  announce?: string[]
  /** 'tcp://host:port' addresses, optionally '…#<peerId>'. */
  bootstrap?: string[]
  /** Private network: peers without the same key cannot complete a handshake. */
  networkKey?: string | Uint8Array
  /** Serve topic announcements for other peers. Default true. */
  rendezvous?: boolean
  manager?: Partial<ConnectionManagerOptions>
  /** Transport and discovery tuning (milliseconds). */
  handshakeTimeout?: number
  keepAlive?: number
  deadTimeout?: number
  announceTtl?: number
  refreshInterval?: number
  /** Peer-exchange messages (referrals, lookup answers) taken from one connection per minute; the rest are dropped. Default 120. */
  pexPerMinute?: number
  /** Budgets of the rendezvous service (see `RendezvousLimits`): bytes, topics per peer, registrations per topic… */
  rendezvousLimits?: Partial<RendezvousLimits>
  /** Inbound handshakes in progress at most (all IPs). Default 32. */
  maxPendingHandshakes?: number
  /** Inbound handshakes in progress per IP (an IPv6 /64 counts as one; 127.0.0.1 and ::1 exempt). Default an eighth of maxPendingHandshakes (4). */
  maxPendingPerIp?: number
  /** New inbound sockets per IP per second (127.0.0.1 and ::1 exempt). Default 10. */
  perIpRate?: number
  /** New inbound sockets per second, all IPs together (127.0.0.1 and ::1 exempt): each costs the node its first handshake message. Default 8 × maxPendingHandshakes (256). */
  maxHandshakeRate?: number
  /** IPs whose rate is tracked at once (the least recently seen is forgotten). Default 4096. */
  maxTrackedIps?: number
  /** Bytes decrypted and queued on a connection not yet reading before its socket is paused. Default 1 MiB. */
  maxQueuedBytes?: number
  /** Channels a peer opened that wait to be paired, at most per connection; past it the connection closes ('over-budget'). Default 1024. */
  maxPendingOpens?: number
  /** The highest channel id a peer may use on one connection; past it the connection closes ('over-budget'). Default 4096. */
  maxRemoteChannels?: number
  /** Bytes queued for a peer that it has not read, at most per connection; past it the connection closes ('over-budget'). Default 16 MiB. */
  maxWriteQueueBytes?: number
  /** Bytes held for partly received frames, all connections together; past it the connection whose partial frame went longest without a byte closes ('over-budget'). Default 256 MiB. */
  maxReceivingBytes?: number
  /** A frame must arrive whole within this many ms of its first bytes, or its connection closes ('timeout'). Default 60 s. */
  frameTimeout?: number
  /** Bytes queued to and from peers (paused queues, unread writes), all connections together; past it the largest holder of the range holding most closes ('over-budget'). Default 256 MiB. */
  maxQueuedBytesTotal?: number
  /**
   * Where the node writes what happens: connections kept and lost, failures with their code and
   * reason, refusals (levels in node-log.ts). Any pino-compatible logger, or `createLogger()`.
   * Default: none (silent).
   */
  logger?: Logger
  /**
   * The dial-back check (are we reachable from outside at our listen port?): its timeouts and rates
   * (see `DialBackLimits`), or false for none. Default on, except for a node listening on loopback
   * addresses only (nobody outside could dial it) — given explicitly, it runs there too; always off
   * when `announce` is given; true runs it with the default limits. Peers' requests are answered either way.
   */
  dialBack?: Partial<DialBackLimits> | boolean
  /**
   * Serve as a relay for peers that cannot be dialled (they keep a reservation with us and are
   * reached through us; the relay forwards ciphertext only): true for the defaults, or budgets
   * (see `RelayLimits`: reservations, circuits, each circuit's duration and bytes). Default off.
   */
  relay?: boolean | Partial<RelayLimits>
  /**
   * What peers may teach us about other peers (referrals, peer exchange, lookup answers): distinct
   * ports per host and peers per public range, node-wide and per connection, within a window (see
   * `HintLimits`; defaults 16/8 ports, 64/32 peers, 10 min). 0 learns none, Infinity switches one off.
   */
  hintLimits?: Partial<HintLimits>
  /**
   * Dials that failed toward one host or public range within a window, past which dials there fail
   * at once, no socket opened (see `FailedDialLimits`; defaults 16 per host, 64 per range, 1 min).
   * Integers >= 1, or Infinity to switch one off.
   */
  failedDialLimits?: Partial<FailedDialLimits>
}

/** Every option `createNode` knows: others are refused with the closest name. */
export const NODE_OPTIONS: ReadonlyArray<keyof NodeOptions> = [
  'seed', 'dataDir', 'listen', 'announce', 'bootstrap', 'networkKey', 'rendezvous', 'manager', 'handshakeTimeout', 'keepAlive',
  'deadTimeout', 'announceTtl', 'refreshInterval', 'pexPerMinute', 'rendezvousLimits', 'maxPendingHandshakes', 'maxPendingPerIp',
  'perIpRate', 'maxHandshakeRate', 'maxTrackedIps', 'maxQueuedBytes', 'maxPendingOpens', 'maxRemoteChannels', 'maxWriteQueueBytes', 'maxReceivingBytes', 'frameTimeout', 'maxQueuedBytesTotal', 'logger', 'dialBack', 'relay',
  'hintLimits', 'failedDialLimits'
]

/** The manager's stats plus the node's own figures (the transport's, discovery's, the rendezvous budgets). */
export interface NodeStats extends ManagerStats, TransportStats {
  /** Topics our rendezvous service holds registrations for. */
  rendezvousTopics: number
  /** Registrations our rendezvous service holds, and the bytes they take (budget: `rendezvousLimits.maxBytes`). */
  rendezvousRegistrations: number
  rendezvousBytes: number
  /** Announcements our rendezvous service refused for a budget. */
  rendezvousRefused: number
  /** Dials begun since the node was created (bootstrap dials included), and how many of them failed. */
  dials: number
  dialsFailed: number
  /** Of `dialsFailed`: dials failed at once, their target's host or range past its budget of failed dials (16 a minute per host, 64 per public range). */
  dialsOverBudget: number
  /** Peer-exchange messages dropped for a connection's `pexPerMinute`. */
  pexDropped: number
  /**
   * Addresses peers told us about (referrals, peer exchange, lookup answers, farewells) and peers' hellos said of themselves, dropped at
   * intake: past 16 new ports of one host (8 from one connection) or 64 hinted peers of one public
   * range (32 from one connection) within 10 minutes.
   */
  hintsDropped: number
  /** Lookup answers nobody asked for (never learnt). */
  unsolicitedAnswers: number
  /**
   * Visits to the bootstrap rendezvous points we hold no connection to (they keep our topics
   * registered after the bootstrap connection was let go), how many failed, and visits we served.
   */
  rendezvousVisits: number
  rendezvousVisitsFailed: number
  rendezvousVisitsServed: number
  /**
   * Withdrawals (a leave, `close()`) given up at a rendezvous point we are not connected to: its visit
   * failed four times, or nobody listened there. That point may hand us out until our registration expires.
   */
  rendezvousWithdrawalsAbandoned: number
  /** Connections refused or trimmed for lack of room whose referrals stopped at 8 topics (a hello may declare 64). */
  farewellsCapped: number
  /** Topic joins and leaves from peers ignored for the flip budget per identity and per source (a burst of 8, then 1 per 4 s, a source twice that; 64 ignored on one connection close it 'protocol'). */
  topicFlipsIgnored: number
  /**
   * Registrations withdrawn from our rendezvous table because the connection they came over closed
   * (its peer crashed, hung up or was closed for misbehaving; not when either manager closed it for
   * room or lifetime).
   */
  rendezvousClosedWithdrawals: number
  /** Lookups we answered empty for the per-asker budget (512 full answers a minute). */
  lookupAnswersRefused: number
  /** The dial-back check's verdict now (see `Reachability`). */
  reachability: Reachability
  /** Dial-backs we made for peers, and requests we refused for a rate (or over a relayed connection). */
  dialBacksServed: number
  dialBacksRefused: number
  /** Answers peers gave to our dial-back requests: reached us, could not, refused to try. */
  dialBackAnswers: { ok: number; failed: number; refused: number }
  /** As a relay: reservations held and circuits forwarded now; reservations and circuits refused, circuits cut for a budget, bytes forwarded. */
  relayReservations: number
  relayCircuits: number
  relayRefused: number
  relayCut: number
  relayBytes: number
  /** As a private node: relays we hold a reservation with now; circuits we dialled and accepted through relays. */
  relaysHeld: number
  relayedDials: number
  relayedAccepted: number
  /** Hole punches begun over relayed connections, and those that gave a direct connection. */
  punches: number
  punchesDirect: number
}

/** A running node (`createNode`): its id and addresses, topics, its manager, events, figures and `close()`. */
export interface PeerNode {
  /** Lowercase hex of the ed25519 public key. */
  readonly id: PeerId
  /** Where it listens, e.g. 'tcp://127.0.0.1:40123'. */
  readonly addresses: string[]
  /** What it tells peers: `announce`, else the listen addresses with wildcards expanded plus what peers observe. */
  readonly advertised: string[]
  readonly manager: ConnectionManager
  /** Resolves once the topic is announced and/or looked up. */
  join(topic: string | Uint8Array, opts?: { announce?: boolean; lookup?: boolean }): Promise<void>
  /** Resolves once the topic is unannounced. */
  leave(topic: string | Uint8Array): Promise<void>
  /** Whether the topic is joined now. */
  joined(topic: string | Uint8Array): boolean
  /** True once every peer found for the topic has been attempted. */
  flushed(topic: string | Uint8Array): boolean
  /** The connections the node holds now (the manager's `listConnections()`). */
  connections(): ConnectionInfo[]
  /**
   * 'connection' {connection, peer, replaced} (for every connection kept, including one that replaced a
   * duplicate while the peer stayed connected), 'disconnection' {peer, reason?} (the peer's last
   * connection went), 'handshake:failed' {address, error}
   * (an inbound connection that failed Noise, the network key or the deadline), plus the manager's events.
   */
  readonly events: TypedEventTarget<NodeEvents>
  /**
   * Serves an application protocol: `open(connection)` runs for every connection the node keeps (now
   * and later) and creates the protocol's channel on `connection.mux` (protomux). A channel the remote
   * opens first waits until the connection is accepted, then pairs with it. The mesh's RPC runs so.
   */
  protocol(name: string, open: (connection: NodeConnection) => void): void
  /** The manager's stats plus the transport's (`TransportStats`), discovery's and the rendezvous service's. */
  stats(): NodeStats
  /** Unannounces every topic, closes every connection (the remote sees 'stopped'), flushes the store. */
  close(): Promise<void>
}

/** The dial-back check's tuning (milliseconds). */
export interface DialBackLimits {
  /** How long a dial-back may take before it counts as failed. Default 5 s. */
  probeTimeout: number
  /** We serve one request per peer per this interval; others are refused. Default 60 s. */
  perPeerInterval: number
  /** We serve at most this many requests per minute in all. Default 30. */
  perMinute: number
  /** An answer counts this long; then peers are asked again. Default 10 min. */
  resultTtl: number
}
