import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import { NodeConnection, type OpenOptions } from './connection.js'
import { DeadlineQueue } from './deadlines.js'
import { LiveConnection } from './live-connection.js'
import { defaultKeepAlive, keepAliveTiming, Liveness } from './liveness.js'
import type { SecureStream } from './secure-stream.js'
import type { TransportOptions } from './transport-options.js'

/**
 * From a secure stream in its handshake to a live connection: the transport's handshake deadline,
 * the connection's set-up, its keep-alives, and the graceful end of what closes.
 *
 * Rules:
 * - The handshake (Noise, with both hellos and the network key) runs under one deadline
 *   (`handshakeTimeout`, default 10 s: `ERR_HANDSHAKE_TIMEOUT`), all handshakes on one shared timer.
 * - A failed handshake destroys its stream at once, unless the stream is ending on its own (a refusal
 *   the remote must read): then it is destroyed after 2 s at the latest, never waiting on a stalled peer.
 * - An authenticated connection is watched for liveness (liveness.ts): the listener's side sends the
 *   keep-alives, the dialer's side answers them (`keepAliveTiming`).
 * - Counts the connections closed for a decoder's refusal (`protocolErrors`) and for a per-connection
 *   budget (`openBudgetCloses`, `writeBudgetCloses`).
 */
export class Establishment {
  /** Connections closed because the peer sent a message a decoder refused ('protocol'). */
  protocolErrors = 0
  /** Connections closed because the remote opened more channels than its budgets ('over-budget'). */
  openBudgetCloses = 0
  /** Connections closed because more than `maxWriteQueueBytes` waited for a remote that did not read ('over-budget'). */
  writeBudgetCloses = 0
  /** Handshakes in progress (both directions), on one shared timer. */
  private readonly handshakes: DeadlineQueue
  /** Connections ending gracefully: destroyed if the peer has not finished the close within 2 s. */
  private readonly closing: DeadlineQueue
  /** Outbound connections': the same deadline; answers to the listener's keep-alives (see the rules). */
  private readonly liveness: Liveness
  /** Inbound connections' keep-alives and deadlines (see the rules). */
  private readonly inboundLiveness: Liveness

  constructor (private readonly opts: TransportOptions, clock: Clock) {
    this.handshakes = new DeadlineQueue(opts.handshakeTimeout ?? 10_000, clock)
    this.closing = new DeadlineQueue(2_000, clock)
    const deadTimeout = opts.deadTimeout ?? 20_000
    const timing = keepAliveTiming(opts.keepAlive ?? defaultKeepAlive(deadTimeout), deadTimeout)
    this.liveness = new Liveness(timing.outbound, undefined, clock)
    this.inboundLiveness = new Liveness(timing.inbound, undefined, clock)
  }

  /** Resolves to the authenticated connection once `stream`'s handshake is done (see the rules). */
  establish (stream: SecureStream, direction: 'inbound' | 'outbound', address: string): Promise<NodeConnection> {
    const deadline = {
      expire: () => { stream.destroy(new PeerwardenError('ERR_HANDSHAKE_TIMEOUT', `handshake with ${address} not done within ${this.handshakes.ms} ms`)) }
    }
    this.handshakes.add(deadline)
    return stream.opened.then(async () => {
      this.handshakes.delete(deadline)
      const conn = await NodeConnection.open(stream, this.openOptions(direction, address))
      const liveness = direction === 'inbound' ? this.inboundLiveness : this.liveness
      const live = new LiveConnection(conn, liveness)
      liveness.add(live)
      stream.keepAliveListener = live
      stream.once('close', () => { liveness.delete(live) })
      return conn
    }, (err: Error) => {
      this.handshakes.delete(deadline)
      // A refused handshake ends on its own (the remote must read why); never wait on a stalled peer.
      if (stream.ending) this.closing.add({ expire: () => { stream.destroy() } })
      else stream.destroy()
      throw err
    })
  }

  /** Stops every timer (the transport is closing). */
  clear (): void {
    this.handshakes.clear()
    this.closing.clear()
    this.liveness.stop()
    this.inboundLiveness.stop()
  }

  private openOptions (direction: 'inbound' | 'outbound', address: string): OpenOptions {
    return {
      direction,
      address,
      onMessage: this.opts.onMessage,
      farewell: this.opts.farewell,
      closing: this.closing,
      onProtocolError: (conn, why) => {
        this.protocolErrors++
        this.opts.onProtocolError?.(conn, why)
      },
      maxPendingOpens: this.opts.maxPendingOpens,
      maxRemoteChannels: this.opts.maxRemoteChannels,
      maxWriteQueueBytes: this.opts.maxWriteQueueBytes,
      onOverBudget: (_conn, budget) => {
        if (budget === 'write-queue') this.writeBudgetCloses++
        else this.openBudgetCloses++
      }
    }
  }
}
