/**
 * Public types of `peerwarden/ssb`: the part of secret-stack the plugin drives, and the connection
 * manager API of sbot-connection-manager with its names. Re-exported by the entry module.
 */
import type { Logger } from '../../logger.js'
import type { ConnectionManager, ConnectionManagerOptions, PeerInfo, Priority } from '../../manager/types.js'
import type { RoomStats } from '../room-policy.js'
import type { PullSource } from './pull-source.js'

/** The part of a muxrpc connection (what `sbot.connect` calls back with, what 'rpc:connect' carries) used here. */
export interface RpcLike {
  /** The remote's feed id (`@…=.ed25519`). */
  readonly id?: string
  /** True once the connection closed. */
  readonly closed?: boolean
  /** The stream; `stream.address` is the dialled address outbound, the remote's `net:IP:PORT~shs:KEY` inbound. */
  readonly stream?: { address?: unknown }
  /** `close(true, cb)` ends the connection at once (secret-stack's muxrpc). */
  close(err?: unknown, cb?: (err?: unknown) => void): unknown
  /** 'closed' fires once the connection ended, whoever ended it. */
  once?(event: 'closed', listener: () => void): unknown
}

/** The part of a secret-stack 8 server (the `sbot` a plugin's `init` receives) used here. */
export interface SbotLike {
  /** Our feed id. */
  readonly id: string
  readonly closed?: boolean
  /** Dials a multiserver address; secret-stack does not deduplicate (a second dial gives a second RPC). */
  connect: ((address: string, cb: (err: unknown, rpc?: RpcLike) => void) => void) & Hookable
  /** Who may connect: `cb(err)` refuses the handshake (secret-stack's shs transform calls it). */
  auth: ((id: string, cb: (err?: unknown, perms?: unknown) => void) => void) & Hookable
  /** Shuts the server down; `close(true, cb)` closes every RPC too. */
  close: ((...args: unknown[]) => unknown) & Hookable
  /** 'rpc:connect' fires for every new RPC, on both sides (`isClient` on the dialling side). */
  on(event: 'rpc:connect', listener: (rpc: RpcLike, isClient: boolean) => void): unknown
  /** Open RPCs by feed id (secret-stack's own table). */
  readonly peers?: Record<string, RpcLike[] | undefined>
}

/** A hoox-wrapped function (every method of a secret-stack server): `hook(fn)` runs `fn(original, args)` instead. */
export interface Hookable {
  /** Wraps the function: later calls run `hook(original, args)`. */
  hook(hook: (this: unknown, original: (...args: any[]) => any, args: any[]) => unknown): unknown
}

/** A priority as sbot-connection-manager names it, or as the manager does (`'high'`…). */
export type PriorityName = Priority | 'HIGH' | 'MED' | 'MEDIUM' | 'LOW' | 'BANNED'

/** The `prioritise` hook under its sbot-connection-manager name; it may answer with either spelling. */
export type OnPrioritise = (peer: PeerInfo) => PriorityName | undefined

/** A peer as `peers.add` takes it: its multiserver address (the feed id is read from its `shs` key), or its id. */
export interface SsbPeerInput {
  /** `net:HOST:PORT~shs:KEY`, or any multiserver address secret-stack can dial. */
  address?: string
  /** The feed id; default: the one the address's `shs` key names. */
  id?: string
  /** Default `'medium'`. */
  priority?: PriorityName
  /** Default false. Redialled whenever lost, never rotated, trimmed last. */
  longTerm?: boolean
}

/** A priority change as `peers.setPriority` takes it: the peer by address or id. */
export interface SsbPriorityUpdate {
  address?: string
  id?: string
  priority: PriorityName
}

/** What `connection.errors()` yields: a dial that failed. */
export interface SsbConnectionError {
  /** The multiserver address that was dialled. */
  peer: string
  /** The feed id the address names, when it names one. */
  id?: string
  error: Error
  /** When it failed (the manager's clock). */
  at: number
}

/** Callback of the methods that also return a promise. */
export type NodeCallback<T = void> = (err: Error | null, value?: T) => void

/**
 * The sbot-connection-manager API over a peerwarden connection manager (`sbot.peerwarden`, or what
 * `Manager({ connectToPeer })` returns). Everything a peer sends is checked; a peer id is a feed id.
 */
export interface SsbConnectionManager {
  readonly peers: {
    /** Adds peers (or merges what is said of known ones): `{ address }`, optionally `id`, `priority`, `longTerm`. */
    add(peers: SsbPeerInput[]): void
    /** Sets priorities: `'BANNED'` closes the peer's connections at once, refuses it inbound and never dials it. */
    setPriority(peers: SsbPriorityUpdate[]): void
    /** A long-term peer is redialled whenever lost and trimmed last (off by default). */
    setLongTerm(peer: string, longTerm: boolean): void
    /** Forgets a peer (by address or feed id) that is not connected: its record, tags and history, in the store too (a connected one keeps only its live connection). */
    forget(peer: string): void
    /** The peers observable: calls `listener` now and after every change (coalesced per tick). Returns unsubscribe. */
    observe(listener: (peers: readonly PeerInfo[]) => void): () => void
    /** The known peers now. */
    list(): PeerInfo[]
  }
  readonly connections: {
    /** Starts dialing and trimming (the manager is off until then). */
    start(): void
    /** Stops dialing and closes every connection the manager holds; resolves (and calls `cb`) once done. */
    stop(cb?: NodeCallback): Promise<void>
    /** The most connections held (highWater); dialing aims at min(lowWater, max). */
    setMax(max: number): void
    /** Connections that are not long-term or permanent are closed at this age (`undefined`: never). */
    setLifetime(ms: number | undefined): void
    /**
     * A remote peer connected to us. The plugin reports every RPC by itself (this accounts any of
     * the peer's open RPCs not yet reported); the standalone manager needs the `rpc` to count the
     * connection and close it, else it only learns the peer.
     */
    remotePeerConnected(peerId: string, rpc?: RpcLike): void
    /** Dials now, outside the watermarks; `permanent: true` keeps the peer connected for good (off by default). */
    connectNow(peer: string, opts?: { permanent?: boolean }, cb?: NodeCallback): Promise<void>
  }
  readonly connection: {
    /** A pull-stream source of every dial that fails from now on: `{ peer: address, id, error, at }`. */
    errors(): PullSource<SsbConnectionError>
  }
  readonly initialSync: {
    /** One connection only (to `peer`, else the best one) until `stop()`; the others are closed. */
    start(peer?: string): void
    /** Back to normal dialing toward the target. */
    stop(): void
  }
  /** Sets (or with `undefined` removes) the hook that may change a peer's priority when it is added and when it connects. */
  onPrioritise(hook: OnPrioritise | undefined): void
  /** The connection manager underneath, with the rest of peerwarden's API. */
  readonly manager: ConnectionManager
  /**
   * The figures of the room a full server makes for newcomers (releases, strangers refused and
   * remembered); the plugin only (the standalone manager sees no handshake to make room in).
   */
  roomStats?(): RoomStats
}

/** The manager's options that the SSB API takes (it makes `dial` and `localPeer` itself). */
export type SsbManagerOptions = Partial<Omit<ConnectionManagerOptions, 'dial' | 'localPeer' | 'prioritise'>> & {
  /** The sbot-connection-manager hook (`ConnectionManagerOptions.prioritise`). */
  onPrioritise?: OnPrioritise
  /** Where to log refused handshakes and hook failures; default silent. */
  logger?: Logger
}

/** Options of `createPlugin`: the manager's, plus what secret-stack's config cannot carry (objects are copied there). */
export interface SsbPluginOptions extends SsbManagerOptions {
  /** The plugin's name, hence `sbot.<camelCase name>`; default `'peerwarden'`. */
  name?: string
  /** Start dialing as soon as the server is created; default false (off until `connections.start()`, as sbot-connection-manager). */
  autostart?: boolean
}

/** A secret-stack plugin: `SecretStack(config).use(plugin)`. */
export interface SsbPlugin {
  readonly name: string
  readonly version: string
  readonly manifest: Record<string, unknown>
  readonly permissions: Record<string, unknown>
  /** Called by secret-stack for each server made: mounts the API at `sbot.<name>` and returns it. */
  init(sbot: SbotLike, config: Record<string, unknown>): SsbConnectionManager
}

/** Options of `Manager`: sbot-connection-manager's `connectToPeer`, plus the manager's. */
export interface StandaloneOptions extends SsbManagerOptions {
  /** Opens an outbound connection to a multiserver address; normally `sbot.connect`. Calls back with the RPC, or returns a promise of it (an async function). */
  connectToPeer: (address: string, cb: (err: unknown, rpc?: RpcLike) => void) => void | PromiseLike<RpcLike | undefined | null>
  /** Our own feed id: never dialled, and the duplicate tie-break. */
  id?: string
}
