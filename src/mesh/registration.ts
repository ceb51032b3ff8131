import type { Message } from '../node/vendor/protomux.js'
import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import type { NodeConnection } from '../node/connection.js'
import type { PeerNode } from '../node/node.js'
import { MAX_ADDRESSES, peerHandler, safeJson } from '../node/wire.js'
import { check, type Certificate } from './certificate.js'
import { decodeFromRegistry, type FromRegistry, type RegistryMessage } from './messages.js'
import { REGISTRY_PROTOCOL, type DirectoryEntry } from './registry.js'

export interface RegistrationOptions {
  node: PeerNode
  /** The registry's peer id: it signs the certificates. */
  registryId: string
  /** The registry's address, 'tcp://host:port#<registry id>'. */
  registry: string
  role: string
  variant: string
  /** The roles our schema relates to ours: only their instances are learnt from the directory. */
  related: ReadonlySet<string>
  clock: Clock
}

/**
 * A mesh node's side of the registry: registers, holds the certificate, renews it, and turns the
 * directory into peers for the node's manager.
 *
 * Rules:
 * - `register()` dials the registry (a permanent connection) and resolves once the registry signed
 *   our certificate (checked: by the registry's key, for our key, not expired); it rejects when the
 *   registry refuses (ERR_NOT_ALLOWED), the certificate does not check out, or the dial fails.
 * - On every registry connection we register again; the certificate is renewed once four fifths of
 *   its life have passed (at least 50 ms later), until `close()`.
 * - Every directory entry of a related role (not ourselves) becomes a long-term, protected ('mesh')
 *   peer; an entry that left is unprotected.
 */
export class Registration {
  /** Our certificate, once the registry signed it (shown on every RPC channel). */
  cert: Certificate | undefined
  private renewal: unknown
  private closed = false
  /** The `register()` in progress. */
  private pending: { resolve: () => void; reject: (err: Error) => void } | undefined

  constructor (private readonly opts: RegistrationOptions) {}

  async register (): Promise<void> {
    const { node, registry } = this.opts
    try {
      await new Promise<void>((resolve, reject) => {
        this.pending = { resolve, reject }
        node.manager.connectNow(registry, { permanent: true }).catch(reject)
      })
    } finally {
      this.pending = undefined
    }
  }

  /** The node's protocol handler for a connection to the registry: opens the channel and registers. */
  readonly connected = (conn: NodeConnection): void => {
    const channel = conn.mux.createChannel({ protocol: REGISTRY_PROTOCOL })
    if (channel === null) return
    const send: Message<RegistryMessage> = channel.addMessage<RegistryMessage>({
      encoding: safeJson,
      onmessage: peerHandler(decodeFromRegistry, (msg) => { this.received(msg, send) }, (why) => { conn.protocolError(`registry channel: ${why}`) })
    })
    channel.open()
    send.send(this.registerMessage())
  }

  close (): void {
    this.closed = true
    this.opts.clock.clearTimeout(this.renewal)
  }

  private received (msg: FromRegistry, send: Message<RegistryMessage>): void {
    const { node, clock } = this.opts
    if (msg.t === 'registered') {
      let cert: Certificate
      try {
        cert = this.cert = check(msg.cert, { registry: this.opts.registryId, peer: node.id, now: clock.now() })
      } catch (err) { this.pending?.reject(err as Error); return }
      for (const e of msg.directory) this.learn(e)
      // Register again when four fifths of the certificate's life have passed.
      clock.clearTimeout(this.renewal)
      this.renewal = clock.setTimeout(() => { if (!this.closed) send.send(this.registerMessage()) }, Math.max(50, (cert.expires - clock.now()) * 0.8))
      this.pending?.resolve()
    } else if (msg.t === 'refused') {
      this.pending?.reject(new PeerwardenError('ERR_NOT_ALLOWED', `the registry refused the registration: ${msg.reason}`))
    } else if (msg.t === 'joined') {
      this.learn(msg.entry)
    } else {
      node.manager.unprotect(msg.peer, 'mesh')
    }
  }

  private learn (entry: DirectoryEntry): void {
    const { node } = this.opts
    if (entry.peer === node.id || !this.opts.related.has(entry.role)) return
    node.manager.addPeers([{ id: entry.peer, addresses: entry.addresses, longTerm: true }])
    node.manager.protect(entry.peer, 'mesh')
  }

  private registerMessage (): RegistryMessage {
    return { t: 'register', role: this.opts.role, variant: this.opts.variant, addresses: this.opts.node.addresses.slice(0, MAX_ADDRESSES) }
  }
}
