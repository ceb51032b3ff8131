/**
 * The parts of libp2p that `peerwarden/libp2p` uses, declared structurally so that no libp2p type
 * leaks into the package's own declarations (libp2p is an optional peer dependency).
 */
import type { Libp2pPeer, MultiaddrLike, PeerIdLike } from './libp2p-peers.js'

/** A libp2p connection, as far as the service reads and closes it. */
export interface Libp2pConnection {
  readonly id: string
  readonly remotePeer: PeerIdLike
  readonly remoteAddr: MultiaddrLike
  readonly direction: 'inbound' | 'outbound'
  readonly status: string
  readonly streams?: readonly unknown[]
  close(options?: { signal?: AbortSignal }): Promise<void>
  abort(err: Error): void
}
/** A stream of a connection: it says when it closes. */
export interface StreamLike { addEventListener?(type: string, listener: () => void): void }
/**
 * A libp2p connection's stream muxer (libp2p 3's `AbstractStreamMuxer`: the connection's `muxer`,
 * not part of its public type): 'stream' for each stream the remote opens, `createStream` for ours;
 * a stream leaves `streams` before its 'close' listeners added later run.
 */
export interface MuxerLike {
  addEventListener(type: 'stream', listener: (evt: { detail: StreamLike }) => void): void
  createStream(options?: unknown): Promise<StreamLike>
}
/** libp2p's event targets (the node's events, a pubsub service). */
export interface EventsLike {
  addEventListener(type: string, listener: (evt: any) => void): void
  removeEventListener(type: string, listener: (evt: any) => void): void
}
/** The connection gater's methods the service wraps (each optional in libp2p). */
export interface Gater {
  denyInboundConnection?: (maConn: { remoteAddr: MultiaddrLike }) => boolean | Promise<boolean>
  denyInboundEncryptedConnection?: (peerId: PeerIdLike, maConn: { remoteAddr: MultiaddrLike }) => boolean | Promise<boolean>
  denyOutboundEncryptedConnection?: (peerId: PeerIdLike, maConn: { remoteAddr: MultiaddrLike }) => boolean | Promise<boolean>
  denyDialPeer?: (peerId: PeerIdLike) => boolean | Promise<boolean>
}
/** A pubsub service (gossipsub, floodsub): its subscribers per topic and 'subscription-change'. */
export interface PubSubLike extends EventsLike {
  getSubscribers(topic: string): PeerIdLike[]
}
/** The libp2p components a service receives (a proxy that throws on a missing name). */
export interface Components {
  peerId: PeerIdLike
  events: EventsLike
  connectionGater: Gater
  connectionManager: {
    getConnections(): Libp2pConnection[]
    openConnection(target: unknown, options?: { signal?: AbortSignal }): Promise<Libp2pConnection>
    getMaxConnections?(): number
    setMaxConnections?(max: number): void
  }
  peerStore: { all(): Promise<Libp2pPeer[]> }
  [service: string]: unknown
}
