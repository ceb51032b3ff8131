/**
 * Which cores of a corestore replicate on which connections, for both networkers.
 *
 * Rules:
 * - `add(stream)` replicates the whole corestore on a connection (all-to-all: whatever cores both
 *   sides hold) — a Noise stream of Hyperswarm's, or a node connection's protomux.
 * - `stop(discoveryKey)` closes that core's replication channel on every connection, and keeps it
 *   closed: Hypercore opens channels again on its own (when the remote opens the discovery key, when
 *   a core starts downloading again, when a remote that still downloads sees the channel close), so
 *   the connection's protomux refuses to make a Hypercore channel for a stopped key, whichever side
 *   asks. The remote's open is then rejected (`refusedChannels` counts those refusals). Other cores
 *   keep replicating on the same connections.
 * - `resume(discoveryKey)` lets the key's channels open again, and re-attaches the core (when the
 *   store has it open) to every connection.
 * - A connection is forgotten when its stream closes; the table holds only live connections.
 * - Budget: at most `maxCoresPerConnection` (default `DEFAULT_MAX_CORES_PER_CONNECTION`, 1024)
 *   Hypercore channels at once on one connection, whichever side asks. Each channel a remote opens
 *   for a key the store holds makes Corestore open that core from disk and replicate it, so a peer
 *   that knows many keys (public data) could have us open them all on one connection; past the
 *   budget the channel is refused as a stopped key's is (`overBudgetChannels` counts those).
 */
import { PeerwardenError } from '../errors.js'

/** Hypercore's replication protocol on a protomux; each channel's id is a core's discovery key. */
const HYPERCORE_PROTOCOL = 'hypercore/alpha'

/** The part of a Corestore used here: replication over a connection. */
export interface CorestoreLike {
  /** Replicates every core of the store over a Noise stream or a protomux (all-to-all). */
  replicate(stream: unknown): unknown
}

/** The part of a protomux (a connection's channels) used here. */
interface Mux {
  readonly stream: { once(event: 'close', listener: () => void): unknown; readonly destroyed?: boolean }
  createChannel(opts: { protocol: string; id?: Uint8Array | null }): unknown
  [Symbol.iterator](): Iterator<{ protocol: string; id: Uint8Array | null; close(): void }>
}

/** A core's replicator, as Corestore drives it (Hypercore 11). */
interface Replicator { attached(mux: Mux): boolean; attachTo(mux: Mux): void; detachFrom(mux: Mux): void }

/** Corestore's table of open cores (`cores.get(discoveryKey)`). */
interface OpenCores { get(discoveryKey: Uint8Array): { replicator?: Replicator } | null }

/** `maxCoresPerConnection` by default. */
export const DEFAULT_MAX_CORES_PER_CONNECTION = 1024

/** What the replication table counts. */
export interface ReplicationStats {
  /** Connections the corestore replicates on now. */
  connections: number
  /** Discovery keys whose replication is stopped (left). */
  stopped: number
  /** Hypercore channels refused for a stopped key (either side asked), since creation. */
  refusedChannels: number
  /** Hypercore channels refused because their connection held `maxCoresPerConnection` already, since creation. */
  overBudgetChannels: number
}

/** The replication table of one networker (see the module's rules). */
export class Replication {
  private readonly muxes = new Set<Mux>()
  /** Hex discovery keys whose channels stay closed. */
  private readonly stoppedKeys = new Set<string>()
  private refused = 0
  private overBudget = 0
  private readonly maxCores: number

  /** `maxCoresPerConnection`: an integer >= 1, or Infinity (no budget); default 1024. */
  constructor (private readonly corestore: CorestoreLike, maxCoresPerConnection: number = DEFAULT_MAX_CORES_PER_CONNECTION) {
    if (!(maxCoresPerConnection === Infinity || (Number.isInteger(maxCoresPerConnection) && maxCoresPerConnection >= 1))) {
      throw PeerwardenError.invalid(`maxCoresPerConnection must be an integer >= 1 or Infinity, got ${String(maxCoresPerConnection)}`)
    }
    this.maxCores = maxCoresPerConnection
  }

  /** Replicates the store on `stream` (a Noise stream or a protomux) and gates its Hypercore channels. */
  add (stream: unknown): void {
    const out = this.corestore.replicate(stream)
    const mux = muxOf(stream) ?? muxOf(out)
    if (mux === undefined || this.muxes.has(mux)) return
    this.gate(mux)
    this.muxes.add(mux)
    mux.stream.once('close', () => { this.muxes.delete(mux) })
    // Cores attached by `replicate` before the gate was in place: close the stopped ones now.
    for (const key of this.stoppedKeys) this.closeOn(mux, Buffer.from(key, 'hex'))
  }

  /** Closes the key's channel on every connection and keeps it closed. */
  stop (discoveryKey: Uint8Array): void {
    this.stoppedKeys.add(Buffer.from(discoveryKey).toString('hex'))
    for (const mux of this.muxes) this.closeOn(mux, discoveryKey)
  }

  /** Lets the key replicate again on every connection. */
  resume (discoveryKey: Uint8Array): void {
    if (!this.stoppedKeys.delete(Buffer.from(discoveryKey).toString('hex'))) return
    const replicator = this.replicatorOf(discoveryKey)
    if (replicator === undefined) return
    for (const mux of this.muxes) {
      if (mux.stream.destroyed === true) continue
      // Re-attach from scratch: a replicator attached while the key was stopped made no channel.
      if (replicator.attached(mux)) replicator.detachFrom(mux)
      replicator.attachTo(mux)
    }
  }

  /** Whether the key's replication is stopped. */
  stopped (discoveryKey: Uint8Array): boolean { return this.stoppedKeys.has(Buffer.from(discoveryKey).toString('hex')) }

  /** What the table counts now. */
  stats (): ReplicationStats {
    return { connections: this.muxes.size, stopped: this.stoppedKeys.size, refusedChannels: this.refused, overBudgetChannels: this.overBudget }
  }

  /** Forgets every connection (the networker is closing; the connections close with it). */
  clear (): void {
    this.muxes.clear()
  }

  /**
   * The mux refuses Hypercore channels of stopped keys, and past the budget (protomux's `null`: no
   * channel, the remote's open is rejected).
   */
  private gate (mux: Mux): void {
    const create = mux.createChannel.bind(mux)
    mux.createChannel = (opts) => {
      if (opts?.protocol !== HYPERCORE_PROTOCOL) return create(opts)
      if (opts.id instanceof Uint8Array && this.stoppedKeys.has(Buffer.from(opts.id).toString('hex'))) {
        this.refused++
        return null
      }
      if (this.maxCores !== Infinity && hypercoreChannels(mux, this.maxCores) >= this.maxCores) {
        this.overBudget++
        return null
      }
      return create(opts)
    }
  }

  private closeOn (mux: Mux, discoveryKey: Uint8Array): void {
    const replicator = this.replicatorOf(discoveryKey)
    if (replicator?.attached(mux) === true) replicator.detachFrom(mux)
    for (const channel of [...mux]) {
      if (channel.protocol === HYPERCORE_PROTOCOL && channel.id !== null && Buffer.from(channel.id).equals(discoveryKey)) channel.close()
    }
  }

  private replicatorOf (discoveryKey: Uint8Array): Replicator | undefined {
    const cores = (this.corestore as CorestoreLike & { cores?: OpenCores }).cores
    if (cores === undefined || typeof cores.get !== 'function') return undefined
    return cores.get(Buffer.from(discoveryKey))?.replicator ?? undefined
  }
}

/** The mux's open Hypercore channels, counted up to `max` (the budget's check stops there). */
function hypercoreChannels (mux: Mux, max: number): number {
  let n = 0
  for (const channel of mux) {
    if (channel.protocol === HYPERCORE_PROTOCOL && ++n >= max) break
  }
  return n
}

/** The protomux of a replication stream: the stream itself, or its Noise stream's `userData`. */
function muxOf (stream: unknown): Mux | undefined {
  const s = stream as { isProtomux?: boolean; noiseStream?: { userData?: unknown } } | null
  if (s == null || typeof s !== 'object') return undefined
  if (s.isProtomux === true) return s as unknown as Mux
  const mux = s.noiseStream?.userData as { isProtomux?: boolean } | undefined
  return mux?.isProtomux === true ? mux as unknown as Mux : undefined
}

/** Checks that `corestore` can replicate (fails loudly at the boundary). */
export function checkCorestore (corestore: CorestoreLike): void {
  if (corestore == null || typeof corestore.replicate !== 'function') throw PeerwardenError.invalid('corestore must be a Corestore (with replicate())')
}

/** Checks a discovery key (32 bytes) and returns it in hex. */
export function checkKey (key: unknown): string {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw PeerwardenError.invalid('discoveryKey must be 32 bytes')
  return Buffer.from(key).toString('hex')
}
