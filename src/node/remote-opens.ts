import c from './vendor/compact-encoding.js'
import type { Protomux } from './vendor/protomux.js'

/** Default `maxPendingOpens`: room for a corestore that opens a channel per core at once. */
export const DEFAULT_MAX_PENDING_OPENS = 1024
/** Default `maxRemoteChannels`. */
export const DEFAULT_MAX_REMOTE_CHANNELS = 4096

/** The budgets on the channels a remote opens on one connection (see `RemoteOpens`). */
export interface OpenLimits {
  /** Remote opens waiting to be paired at once, at most. */
  maxPendingOpens: number
  /** The highest channel id the remote may use (its channels open or waiting at once, at most). */
  maxRemoteChannels: number
}

/** What `RemoteOpens` needs of its connection. */
export interface OpensHost {
  /** True once the local manager accepted the connection. */
  readonly isAccepted: boolean
  /** False once the connection is closing or closed. */
  readonly open: boolean
  /** Resolves true once the local manager accepts the connection, false if it closes first. */
  whenAccepted(): Promise<boolean>
  /** The remote outran a budget: the connection closes ('over-budget'). Never throws. */
  overBudget(budget: 'pending-opens' | 'channel-ids', why: string): void
}

/** The parts of protomux 3's internals wrapped here (the module ships no types). */
interface MuxInternals {
  /** Waits for a pairing (`pair`'s notify) of a remote open, then rejects what stayed unpaired. */
  _requestSession: (protocol: string, id: unknown, info: unknown) => Promise<void>
  /** A remote's open message: its channel id, protocol and id. */
  _onopensession: (state: { start: number }) => unknown
  /** The pairings (`pair`), by protomux's key of protocol and id (see `pairingKey`). */
  _notify: Map<string, unknown>
}

/** protomux's key of a protocol and channel id (its `toKey`); a pairing for any id has the empty id. */
function pairingKey (protocol: string, id: unknown): string {
  return protocol + '##' + (id instanceof Uint8Array ? Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex') : '')
}

const uint = c.uint as { decode (state: { start: number }): number }

/**
 * The channels a remote opens on one connection's protomux: held until the connection is accepted,
 * and budgeted (protomux itself queues them without limit).
 *
 * Rules:
 * - Any channel the remote opens before our manager accepted the connection — for a protocol the node
 *   serves or one the application opens itself once it has the connection (after `connectNow`, in a
 *   'connection' listener) — waits until the acceptance and the application's reaction to it (the rest
 *   of that tick), then pairs with the application's channel if it made one; protomux would otherwise
 *   reject it at once. The dialer reads its remote's verdict before it accepts, so the listener's
 *   first opens arrive then.
 * - Budgets, each per connection: remote opens waiting to be paired (before the acceptance, or while
 *   a pairing such as a corestore's decides) at most `maxPendingOpens`, and channel ids at most
 *   `maxRemoteChannels` (protomux keeps a slot per id the remote used, and an honest remote reuses
 *   the ids of its closed channels). One open past either closes the connection ('over-budget'); an
 *   open past `maxPendingOpens` stays filed in protomux until the connection is gone.
 * - Once the connection is closing, the remote's opens are dropped unread: nothing more is queued.
 */
export class RemoteOpens {
  /** Remote opens waiting to be paired now. */
  pending = 0

  constructor (private readonly host: OpensHost, mux: Protomux, private readonly limits: OpenLimits) {
    const m = mux as unknown as MuxInternals
    const request = m._requestSession.bind(mux)
    const open = m._onopensession.bind(mux)
    m._onopensession = (state) => {
      if (!host.open) return null
      const start = state.start
      const remoteId = uint.decode(state)
      state.start = start
      if (remoteId > limits.maxRemoteChannels) {
        host.overBudget('channel-ids', `mux: channel id ${remoteId} is past the budget of ${limits.maxRemoteChannels} channels on one connection`)
        return null
      }
      return open(state)
    }
    m._requestSession = (protocol, id, info) => {
      // Accepted, and nothing pairs the protocol: protomux rejects the open at once, nothing waits.
      if (host.isAccepted && !m._notify.has(pairingKey(protocol, id)) && !m._notify.has(pairingKey(protocol, null))) return request(protocol, id, info)
      if (this.pending >= limits.maxPendingOpens) {
        host.overBudget('pending-opens', `mux: more than ${limits.maxPendingOpens} channel opens waiting to be paired`)
        return Promise.resolve()
      }
      this.pending++
      return this.request(request, protocol, id, info)
    }
  }

  /** An open that waits: for the acceptance, then for a pairing (`pending` counts it until then). */
  private async request (request: MuxInternals['_requestSession'], protocol: string, id: unknown, info: unknown): Promise<void> {
    const host = this.host
    try {
      if (!host.isAccepted) {
        if (!await host.whenAccepted()) return
        await new Promise<void>((resolve) => { setImmediate(resolve) })
      }
      if (!host.open) return
      await request(protocol, id, info)
    } finally {
      this.pending--
    }
  }
}
