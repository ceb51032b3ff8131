import type { Clock } from '../manager/types.js'
import type { ControlMessage, NodeConnection } from './connection.js'
import type { Hello } from './hello.js'
import type { KeyPair } from './identity.js'
import type { InboundRefusal } from './inbound-limits.js'
import type { NetworkKey } from './network-key.js'

/** What the TCP + Noise transport (transport.ts) is built with: identity, hooks, deadlines and inbound budgets. */
export interface TransportOptions {
  keyPair: KeyPair
  networkKey: NetworkKey
  /** What we tell peers in the hello (listen addresses, rendezvous service); `remoteIp` and `remotePort` are where we see the peer. */
  hello: (remoteIp: string, remotePort: number | undefined) => Hello
  /** Gate before any expensive work: false refuses the socket at once (deny list, limits). */
  gate: (address: string) => boolean
  /** An authenticated inbound connection, ready for the manager. */
  onInbound: (conn: NodeConnection) => void
  onMessage: (conn: NodeConnection, msg: ControlMessage) => void
  /** Called before a connection is closed with a reason, to leave the remote something useful (peer referrals). */
  farewell?: (conn: NodeConnection, reason: string) => void
  /** A connection's peer sent a message a decoder refused; the connection closes with 'protocol'. */
  onProtocolError?: (conn: NodeConnection, why: string) => void
  /** An inbound connection failed before it was authenticated (Noise, network key, deadline). */
  onError?: (address: string, error: Error) => void
  /** An inbound socket was refused before any cryptography: by the gate, or by an inbound budget. */
  onRefused?: (address: string, rule: InboundRefusal | 'gate') => void
  /** Handshake (Noise + hello) deadline. Default 10_000. */
  handshakeTimeout?: number
  /**
   * The accepting side of an idle connection sends a keep-alive after this long without writing, and
   * the dialing side answers it (liveness.ts `keepAliveTiming`). Default: 45 % of `deadTimeout` (9 s).
   */
  keepAlive?: number
  /** A connection that receives nothing for this long is dead (peer vanished without FIN). Default 20_000. */
  deadTimeout?: number
  /** Inbound handshakes in progress at most. Default 32. */
  maxPendingHandshakes?: number
  /**
   * Inbound handshakes in progress at most from one IP (one /64 for IPv6); 127.0.0.1 and ::1 are
   * exempt. Default: an eighth of `maxPendingHandshakes`, at least 1 (4).
   */
  maxPendingPerIp?: number
  /** New inbound sockets per remote IP (one /64 for IPv6) per second at most; 127.0.0.1 and ::1 are exempt. Default 10. */
  perIpRate?: number
  /** Remote IPs whose rate window is remembered at most; the least recently seen is forgotten first. Default 4096. */
  maxTrackedIps?: number
  /**
   * New inbound sockets per second at most, all remote IPs together (127.0.0.1 and ::1 exempt): each
   * costs the listener its first handshake message (two X25519 operations), which a dialer can replay
   * for nothing. Default 8 × `maxPendingHandshakes` (256).
   */
  maxHandshakeRate?: number
  /**
   * Bytes a connection queues while it is paused (not yet accepted, or paused by its owner) before its
   * socket is paused too: a connection holds at most this plus one message. Default 1 MiB.
   */
  maxQueuedBytes?: number
  /**
   * Channels a remote opens that wait to be paired (before the connection is accepted, or while a
   * pairing such as a corestore's decides), at most per connection; one more closes the connection
   * ('over-budget', counted in `openBudgetCloses`). Default 1024.
   */
  maxPendingOpens?: number
  /**
   * The highest channel id a remote may use on one connection (its channels open or waiting at once,
   * at most); a higher one closes the connection ('over-budget', counted in `openBudgetCloses`). Default 4096.
   */
  maxRemoteChannels?: number
  /**
   * Bytes queued for a remote that it has not read (the socket's `writableLength`), at most per
   * connection: past it the connection closes ('over-budget', counted in `writeBudgetCloses`) and is
   * destroyed at once. A sender that waits for 'drain' never comes near it. Default 16 MiB.
   */
  maxWriteQueueBytes?: number
  /**
   * Bytes held for frames partly received, all connections together, at most: past it the partial
   * frame that went longest without a byte gives way and its connection closes ('over-budget', counted in
   * `receiveBudgetCloses`); a frame alone always fits. Default 256 MiB (see receive-budget.ts).
   */
  maxReceivingBytes?: number
  /**
   * Bytes queued to and from peers, all connections together, at most: what paused connections hold
   * unread (each up to `maxQueuedBytes` and one message) and what waits in sockets for peers that do
   * not read (each up to `maxWriteQueueBytes`, four times that while it reads slowly). Past it the
   * largest holder of the address range holding the most gives way: its connection closes
   * ('over-budget', counted in `queueBudgetCloses`). A connection alone always fits. Default 256 MiB
   * (see queue-budget.ts).
   */
  maxQueuedBytesTotal?: number
  /**
   * A frame must arrive whole within this many ms of its first bytes, or its connection closes
   * ('timeout', counted in `frameTimeouts`): a peer that trickles a large frame holds its buffer that
   * long at most. Default 60 s.
   */
  frameTimeout?: number
  /** Deadlines, keep-alives and rate windows run on it. Default: the system clock. */
  clock?: Clock
}

/** The transport's figures (in `node.stats()`): counters since start, and gauges (now). */
export interface TransportStats {
  /** Inbound sockets refused before any cryptography (gate, rate, pending budgets): the total of the next three and the gate's. */
  refusedEarly: number
  /** Refused for the per-IP rate (`perIpRate`). */
  refusedRate: number
  /** Refused because their IP had `maxPendingPerIp` handshakes in progress. */
  refusedPerIp: number
  /**
   * Refused for a rule of their public range (an IPv4 /24, an IPv6 /48: 4 × `perIpRate` new sockets a
   * second, 2 × `maxPendingPerIp` handshakes in progress); also counted in `refusedRate` or `refusedPerIp`.
   */
  refusedPerRange: number
  /** Refused for the rate of inbound handshakes in all (`maxHandshakeRate`; also counted in `refusedRate`). */
  refusedHandshakeRate: number
  /** Refused because `maxPendingHandshakes` handshakes were in progress and none could give way. */
  refusedPending: number
  /** Inbound handshakes ended at the cap to make room for a newcomer, the oldest first (also counted in `failedHandshakes`). */
  evictedHandshakes: number
  /** Inbound connections that failed Noise, the hello, the network key or the deadline (garbage included). */
  failedHandshakes: number
  /** Gauge: inbound handshakes in progress. */
  pendingHandshakes: number
  /** Connections closed because the peer sent a message a decoder refused ('protocol'). */
  protocolErrors: number
  /** Gauge: bytes decrypted and queued on paused connections, all connections together. */
  queuedBytes: number
  /** Bytes read from connections that were closing (or refused) and dropped unread. */
  discardedBytes: number
  /** Times a connection's socket was paused because its queue reached `maxQueuedBytes`. */
  queuePauses: number
  /** Gauge: bytes held for frames partly received (up to 1 MiB each, past that at most 4 × what arrived of it). */
  receivingBytes: number
  /** Connections closed ('over-budget') because the remote opened more channels than `maxPendingOpens` or `maxRemoteChannels` allow. */
  openBudgetCloses: number
  /** Connections closed ('over-budget') because more than `maxWriteQueueBytes` waited for a remote that did not read them. */
  writeBudgetCloses: number
  /** Connections closed ('over-budget') because their partial frame went longest without a byte when all of them held more than `maxReceivingBytes`. */
  receiveBudgetCloses: number
  /**
   * Of `receiveBudgetCloses`: because their source (an IP, an IPv6 /64, a public /24 or /48) held more
   * than an eighth of `maxReceivingBytes` in partial frames, all its connections together.
   */
  receiveSourceBudgetCloses: number
  /** Connections closed ('timeout') because a frame did not arrive whole within `frameTimeout`. */
  frameTimeouts: number
  /** Gauge: bytes counted against `maxQueuedBytesTotal` now (paused queues, and socket buffers found full). */
  queueHoldingBytes: number
  /** Connections closed ('over-budget') to bring the bytes queued on all connections within `maxQueuedBytesTotal`. */
  queueBudgetCloses: number
}
