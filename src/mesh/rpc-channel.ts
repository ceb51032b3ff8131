import type { Message } from '../node/vendor/protomux.js'
import { PeerwardenError } from '../errors.js'
import type { TypedEventTarget } from '../manager/events.js'
import type { Clock } from '../manager/types.js'
import type { NodeConnection } from '../node/connection.js'
import type { PeerNode } from '../node/node.js'
import { boundedJson, MAX_MESSAGE_BYTES, peerHandler, SMALL_JSON_BYTES, smallJson } from '../node/wire.js'
import type { Caller } from './caller.js'
import { check, type Certificate } from './certificate.js'
import type { Drain } from './drain.js'
import type { Instance } from './instance.js'
import { Charge } from './peer-bytes.js'
import { decodeHello, decodeRpc, decodeRpcBatch, type RpcMessage } from './messages.js'
import type { ReadyWaiters } from './ready.js'
import type { Responder } from './responder.js'
import { batchText, jsonOnce, Outbox, type OutgoingRpc } from './rpc-wire.js'
import type { Schema } from './schema.js'
import type { MeshEvents } from './types.js'

export const RPC_PROTOCOL = 'peerwarden/mesh-rpc/1'

/** What the RPC channels of a mesh node share. */
export interface RpcHost {
  node: PeerNode
  schema: Schema
  /** Our role. */
  role: string
  /** The registries whose certificates we accept (each signs with its own key). */
  registries: ReadonlySet<string>
  /** The roles our schema relates to ours: a certificate of another role is refused. */
  related: ReadonlySet<string>
  /** Our certificate (undefined until registered: no RPC channel opens before). */
  cert: () => Certificate | undefined
  /** The listed instances, by peer id (shared with the caller and the ready waiters). */
  instances: Map<string, Instance>
  caller: Caller
  responder: Responder
  waiters: ReadyWaiters
  events: TypedEventTarget<MeshEvents>
  clock: Clock
  /** Our drain (mesh.drain()): who was told, who acknowledged. */
  drain: Drain
  /** The largest RPC message (or batch) we read from a certified remote (`limits.messageBytes`); told in our handshake. */
  messageBytes: number
}

/**
 * One RPC channel ('peerwarden/mesh-rpc/1') on a connection to another mesh node.
 *
 * Rules:
 * - Each side opens the channel with its certificate. The remote's must check out (signed by the
 *   registry, for the remote's key, not expired, of a role related to ours), else the connection
 *   is closed with 'denied' and the peer is no longer redialled (`deny`).
 * - We answer an accepted certificate with 'admit'. The instance is listed once both sides
 *   admitted: handed to the responder, put in `instances`, 'connection' dispatched (not for a
 *   connection that replaced a duplicate: the peer never left) and the ready waiters checked.
 * - Every message is dispatched by type: calls and cancels to the responder, acks and results to
 *   the caller. When the channel closes, its calls in flight settle and its running handlers are
 *   aborted; it leaves `instances` ('disconnection') unless a newer connection took its place.
 * - Batches: the handshake says `batch: true` (we read message type 1, a JSON array of RPC messages,
 *   messages.ts's `decodeRpcBatch`); only a remote whose handshake said so is sent batches (rpc-wire.ts),
 *   an older one gets single messages. A batch that does not decode closes the connection ('protocol')
 *   before any of it is handled; its messages are handled in order, as single ones would be.
 * - Sizes: the handshake says `maxMessage`, the largest message we read (`limits.messageBytes`, 1 MiB
 *   by default): a longer one from a certified remote is refused by its length prefix, unparsed
 *   ('protocol'). We send the remote nothing over what its handshake said (at least `SMALL_JSON_BYTES`;
 *   `MAX_MESSAGE_BYTES` for an older peer that says nothing): a call or answer over it fails with
 *   ERR_MESSAGE_TOO_LARGE at its sender. Each call is charged the message it came in (peer-bytes.ts).
 * - Draining: the handshake says `drain: true` (we understand 'drain' and 'drain-ack'; an older
 *   peer ignores the field). A remote's 'drain' marks its instance draining (the caller stops
 *   picking it) and is answered 'drain-ack', once (a repeated 'drain' is ignored); drain.ts tells
 *   remotes of ours. An unasked 'drain-ack' is ignored.
 */
export class RpcChannel {
  /** The remote's side, once its certificate checked out. */
  private candidate: Instance | undefined
  /** Listed: both sides admitted. */
  private instance: Instance | undefined
  /** The remote admitted our certificate. */
  private admitted = false
  private readonly send: Outbox | undefined
  /** The decoder of a certified remote's messages (at most `messageBytes`). */
  private readonly bounded: ReturnType<typeof boundedJson>
  /** The bytes of the message being decoded (read by its handler, in the same call). */
  private lastBytes = 0

  /** Opens the channel on `conn` (once we hold a certificate). */
  static open (host: RpcHost, conn: NodeConnection): void {
    if (host.cert() !== undefined) new RpcChannel(host, conn) // eslint-disable-line no-new
  }

  private constructor (private readonly host: RpcHost, private readonly conn: NodeConnection) {
    this.bounded = boundedJson(host.messageBytes)
    const channel = conn.mux.createChannel({
      protocol: RPC_PROTOCOL,
      // A certificate is a few hundred bytes: a larger handshake is not parsed.
      handshake: smallJson,
      onopen: (raw: unknown) => { this.opened(raw) },
      onclose: () => { this.closed() }
    })
    if (channel === null) return
    const message: Message<OutgoingRpc> = channel.addMessage<OutgoingRpc>({
      encoding: this.untilCertified(jsonOnce),
      onmessage: peerHandler(decodeRpc, (msg) => { this.received(msg, msg.t === 'call' ? new Charge(this.lastBytes) : undefined) }, (why) => { conn.protocolError(`rpc channel: ${why}`) })
    })
    // Type 1: a batch of messages (rpc-wire.ts), sent only to a peer whose handshake says it reads them.
    const batch: Message<string> = channel.addMessage<string>({
      encoding: this.untilCertified(batchText),
      onmessage: peerHandler(decodeRpcBatch, (msgs) => { this.receivedBatch(msgs) }, (why) => { conn.protocolError(`rpc channel: ${why}`) })
    })
    // Messages sent in the same tick leave in one batch: one encryption and one write for many calls.
    this.send = new Outbox(channel, message, batch)
    channel.open({ cert: host.cert(), drain: true, batch: true, maxMessage: host.messageBytes })
  }

  /**
   * `codec`, whose decode takes at most `SMALL_JSON_BYTES` until the remote's certificate checked
   * out: before that an honest remote sends only its 'admit', and a stranger's megabytes of JSON
   * would cost seconds to parse before its connection is refused. After, at most `messageBytes`
   * (a certified peer's 8 MiB of nested JSON held the event loop for seconds too); the message's
   * bytes are kept for its handler (`lastBytes`).
   */
  private untilCertified<C extends { decode: (state: never) => unknown }> (codec: C): C {
    return {
      ...codec,
      decode: (state: never) => {
        if (this.candidate === undefined) return smallJson.decode(state)
        const start = (state as { start: number }).start
        const value = this.bounded.decode(state)
        this.lastBytes = (state as { start: number }).start - start
        return value
      }
    }
  }

  private opened (raw: unknown): void {
    const { conn, host } = this
    // A connection that already lost a duplicate tie-break may still open its channel: ignore it.
    if (!conn.open) return
    let remote: Certificate
    const hello = decodeHello(raw)
    try {
      // A missing or malformed certificate is refused as a forged one is ('denied').
      if (!hello.ok) throw new PeerwardenError('ERR_CERTIFICATE', `handshake: ${hello.why}`)
      remote = check(hello.value.cert, { registry: host.registries, peer: conn.peer, now: host.clock.now() })
      if (!host.related.has(remote.role)) throw new PeerwardenError('ERR_NOT_ALLOWED', `role ${remote.role} is not related to ${host.role}`)
    } catch {
      deny(host.node, conn)
      return
    }
    this.send!.batches = hello.value.batch === true
    this.send!.maxBytes = Math.max(SMALL_JSON_BYTES, Math.min(MAX_MESSAGE_BYTES, hello.value.maxMessage ?? MAX_MESSAGE_BYTES))
    this.candidate = {
      peer: conn.peer,
      role: remote.role,
      variant: remote.variant,
      who: Object.freeze({ role: remote.role, variant: remote.variant }),
      mayCall: host.schema.canCall(remote.role, host.role),
      send: this.send!,
      outstanding: 0,
      lastPicked: 0,
      busyUntil: 0,
      draining: false,
      drains: hello.ok && hello.value.drain === true,
      running: new Map(),
      heldBytes: 0
    }
    this.send!.send({ t: 'admit' })
    if (this.admitted) this.list()
  }

  /** Listed once we accepted its certificate and it accepted ours. */
  private list (): void {
    const { conn, host } = this
    if (this.instance !== undefined || this.candidate === undefined || !conn.open) return
    const instance = this.instance = this.candidate
    host.responder.attach(instance)
    const replaced = host.instances.has(conn.peer)
    host.instances.set(conn.peer, instance)
    // A connection that replaced a duplicate: the peer never left, so no second 'connection'.
    if (!replaced) host.events.dispatchEvent(new CustomEvent('connection', { detail: { role: instance.role, variant: instance.variant, peer: conn.peer } }))
    host.waiters.check()
    host.drain.listed(instance)
  }

  /** A batch's messages, in order; one whose handling closed the connection ends it (as for single messages, nothing more is read). */
  private receivedBatch (msgs: RpcMessage[]): void {
    // Its calls share the batch's bytes: held until the last of them ended.
    const charge = new Charge(this.lastBytes)
    for (const msg of msgs) {
      if (!this.conn.open) return
      this.received(msg, charge)
    }
  }

  /** A message of the remote; `charge`, for a call, is the message (or batch) it came in. */
  private received (msg: RpcMessage, charge?: Charge): void {
    if (msg.t === 'admit') { this.admitted = true; this.list(); return }
    const from = this.instance
    if (from === undefined) return
    if (msg.t === 'call') { this.host.responder.serve(msg, from, charge); return }
    if (msg.t === 'cancel') { this.host.responder.cancel(msg.id, from); return }
    if (msg.t === 'drain') {
      // Acknowledged once: a repeated 'drain' changes nothing and is not answered (no reply per message to a flood).
      if (from.draining) return
      from.draining = true
      from.send.send({ t: 'drain-ack' })
      return
    }
    if (msg.t === 'drain-ack') { this.host.drain.heard(from); return }
    this.host.caller.onReply(msg, from)
  }

  private closed (): void {
    const { instance, conn, host } = this
    if (instance === undefined) return
    // Calls in flight on this channel settle now, even when a newer connection to the same peer
    // (a duplicate swap) has taken its place.
    host.caller.gone(instance)
    // Its calls still running here: their ctx.signal aborts (nobody waits for the answer now).
    host.responder.detach(instance)
    host.drain.heard(instance)
    if (host.instances.get(conn.peer) !== instance) return
    host.instances.delete(conn.peer)
    host.events.dispatchEvent(new CustomEvent('disconnection', { detail: { role: instance.role, variant: instance.variant, peer: conn.peer } }))
  }
}

/**
 * Refuses a peer whose certificate we do not accept, and stops redialling it until the registry
 * vouches for it again (no reconnect storm between two nodes that disagree).
 */
function deny (node: PeerNode, conn: NodeConnection): void {
  node.manager.unprotect(conn.peer, 'mesh')
  node.manager.setLongTerm(conn.peer, false)
  conn.close('denied')
}

/** Denied by the other side (our certificate expired, or it does not know us): we stop redialling it too. */
export function stopRedialOnDenial (node: PeerNode, registries: ReadonlySet<string>): void {
  node.events.addEventListener('disconnection', (e) => {
    const { peer, reason } = e.detail
    if (reason === 'denied' && !registries.has(peer)) {
      node.manager.unprotect(peer, 'mesh')
      node.manager.setLongTerm(peer, false)
    }
  })
}
