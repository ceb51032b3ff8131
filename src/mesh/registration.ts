import type { Message } from '../node/vendor/protomux.js'
import { MAX_DELAY } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Clock } from '../manager/types.js'
import type { NodeConnection } from '../node/connection.js'
import type { PeerNode } from '../node/node.js'
import { MAX_ADDRESSES, peerHandler, safeJson } from '../node/wire.js'
import { check, type Certificate } from './certificate.js'
import { decodeFromRegistry, MAX_DIRECTORY, type FromRegistry, type RegistryMessage } from './messages.js'
import { provenSplit } from './directory-addresses.js'
import type { HealthReporter } from './health.js'
import { REGISTRY_PROTOCOL, type DirectoryEntry } from './registry.js'

/** One registry a node registers with: its address, `tcp://host:port#<id>`, and that id (the key that signs). */
export interface RegistryAddress { id: string; address: string }

export interface RegistrationOptions {
  node: PeerNode
  /** Every registry of the mesh; each signs certificates with its own key, and all of them are trusted. */
  registries: readonly RegistryAddress[]
  role: string
  variant: string
  /** The roles our schema relates to ours: only their instances are learnt from the directory. */
  related: ReadonlySet<string>
  clock: Clock
  /** ms `register()` waits for a first certificate. */
  timeout: number
  logger: Logger
  /** Our health, reported to each registry that takes it (health.ts). */
  health?: HealthReporter
}

/** What we hold of one registry. */
interface RegistryState {
  id: string
  address: string
  /** The certificate it signed for us (undefined until it did). */
  cert: Certificate | undefined
  renewal: unknown
  /** The first dial failed (only counted before we are registered). */
  failed: Error | undefined
}

/**
 * A mesh node's side of the registries: registers with each of them, holds the certificates, renews
 * them, and turns the directories into peers for the node's manager.
 *
 * Rules:
 * - `register()` dials every registry (permanent connections) and resolves once one of them signed
 *   our certificate (checked: by that registry's key, for our key, not expired). It rejects with
 *   ERR_NOT_ALLOWED when a registry refuses before any signed, with the dial's error when every
 *   registry's first dial failed, with ERR_CERTIFICATE when a certificate does not check out, and with
 *   ERR_TIMEOUT when none signed within `timeout`. The registries that were down keep being
 *   redialled: when one comes back we register with it (it catches up).
 * - On every registry connection we register again; each certificate is renewed once four fifths of
 *   its life have passed (at least 50 ms, at most about 24.8 days later), until `close()`.
 * - A registry whose 'registered' says `health: true` is sent our health reports (health.ts) on that
 *   channel until it closes; an older registry is sent none.
 * - `cert` is the certificate that expires last: any of them proves our role to a node that trusts
 *   the same registries.
 * - Every directory entry of a related role (not ourselves) becomes a long-term, protected ('mesh')
 *   peer; it is unprotected once every registry that listed it said it `left`. At most
 *   `MAX_DIRECTORY` peers are held from the directories (more are ignored, with a warning).
 */
export class Registration {
  private readonly registries = new Map<string, RegistryState>()
  /** Directory peers, and the registries that list each. */
  private readonly listedBy = new Map<string, Set<string>>()
  private closed = false
  private overflowWarned = false
  /** The `register()` in progress. */
  private pending: { resolve: () => void; reject: (err: Error) => void } | undefined

  constructor (private readonly opts: RegistrationOptions) {
    for (const r of opts.registries) this.registries.set(r.id, { id: r.id, address: r.address, cert: undefined, renewal: undefined, failed: undefined })
  }

  /** Whether `peer` is one of our registries. */
  isRegistry (peer: string): boolean { return this.registries.has(peer) }

  /**
   * Our certificate: the one that expires last, once a registry signed one (an expired one is still
   * shown: the other side refuses it with 'denied', and neither redials).
   */
  get cert (): Certificate | undefined {
    let best: Certificate | undefined
    for (const r of this.registries.values()) {
      if (r.cert !== undefined && (best === undefined || r.cert.expires > best.expires)) best = r.cert
    }
    return best
  }

  async register (): Promise<void> {
    const { node, clock, timeout, logger } = this.opts
    let timer: unknown
    try {
      await new Promise<void>((resolve, reject) => {
        this.pending = { resolve, reject }
        timer = clock.setTimeout(() => {
          const tried = [...this.registries.values()].map((r) => r.address).join(', ')
          reject(new PeerwardenError('ERR_TIMEOUT', `no registry signed a certificate within ${timeout} ms (registries: ${tried})`, { cause: this.firstFailure() }))
        }, timeout)
        for (const r of this.registries.values()) {
          logger.debug({ registry: r.address }, 'registering')
          node.manager.connectNow(r.address, { permanent: true }).catch((err: Error) => { this.dialFailed(r, err) })
        }
      })
    } finally {
      clock.clearTimeout(timer)
      this.pending = undefined
    }
  }

  /** The node's protocol handler for a connection to a registry: opens the channel and registers. */
  readonly connected = (conn: NodeConnection): void => {
    const registry = this.registries.get(conn.peer)
    if (registry === undefined || this.closed) return
    const channel = conn.mux.createChannel({ protocol: REGISTRY_PROTOCOL, onclose: () => { this.opts.health?.remove(registry.id, send) } })
    if (channel === null) return
    const send: Message<RegistryMessage> = channel.addMessage<RegistryMessage>({
      encoding: safeJson,
      onmessage: peerHandler(decodeFromRegistry, (msg) => { this.received(registry, msg, send) }, (why) => { conn.protocolError(`registry channel: ${why}`) })
    })
    channel.open()
    send.send(this.registerMessage())
  }

  close (): void {
    this.closed = true
    for (const r of this.registries.values()) this.opts.clock.clearTimeout(r.renewal)
  }

  private dialFailed (r: RegistryState, err: Error): void {
    this.opts.logger.warn({ registry: r.address, err }, 'registry unreachable')
    if (this.pending === undefined) return
    r.failed ??= err
    const all = [...this.registries.values()]
    if (all.every((x) => x.failed !== undefined)) {
      const codes = new Set(all.map((x) => (x.failed as { code?: unknown }).code))
      this.pending.reject(all.length === 1 || codes.size === 1
        ? all[0].failed!
        : new PeerwardenError('ERR_DIAL_FAILED', `no registry could be reached: ${all.map((x) => `${x.address}: ${x.failed!.message}`).join('; ')}`, { cause: all[0].failed }))
    }
  }

  private firstFailure (): Error | undefined {
    for (const r of this.registries.values()) if (r.failed !== undefined) return r.failed
    return undefined
  }

  private received (registry: RegistryState, msg: FromRegistry, send: Message<RegistryMessage>): void {
    const { node, clock, logger } = this.opts
    if (msg.t === 'registered') {
      let cert: Certificate
      try {
        cert = check(msg.cert, { registry: registry.id, peer: node.id, now: clock.now() })
      } catch (err) {
        logger.error({ registry: registry.address, err }, 'the registry\'s certificate does not check out')
        this.pending?.reject(err as Error)
        return
      }
      registry.cert = cert
      registry.failed = undefined
      logger.info({ registry: registry.address, role: cert.role, variant: cert.variant, expires: new Date(cert.expires).toISOString(), directory: msg.directory.length }, 'registered')
      for (const e of msg.directory) this.learn(registry.id, e)
      if (msg.health === true) this.opts.health?.add(registry.id, send, (report) => { send.send({ t: 'health', ...report }) })
      // Register again when four fifths of the certificate's life have passed, or sooner for a long
      // life (a timer waits at most MAX_DELAY, ~24.8 days; node would fire a longer one after 1 ms).
      clock.clearTimeout(registry.renewal)
      registry.renewal = clock.setTimeout(() => { if (!this.closed) send.send(this.registerMessage()) }, Math.min(MAX_DELAY, Math.max(50, (cert.expires - clock.now()) * 0.8)))
      this.pending?.resolve()
    } else if (msg.t === 'refused') {
      logger.warn({ registry: registry.address, reason: msg.reason }, 'registration refused')
      this.pending?.reject(new PeerwardenError('ERR_NOT_ALLOWED', `the registry refused the registration: ${msg.reason}`))
    } else if (msg.t === 'joined') {
      this.learn(registry.id, msg.entry)
    } else {
      this.forget(registry.id, msg.peer)
    }
  }

  private learn (registryId: string, entry: DirectoryEntry): void {
    const { node } = this.opts
    if (entry.peer === node.id || !this.opts.related.has(entry.role)) return
    let by = this.listedBy.get(entry.peer)
    if (by === undefined) {
      if (this.listedBy.size >= MAX_DIRECTORY) {
        if (!this.overflowWarned) this.opts.logger.warn({ max: MAX_DIRECTORY }, 'directory budget reached: further instances are ignored')
        this.overflowWarned = true
        return
      }
      this.listedBy.set(entry.peer, by = new Set())
    }
    by.add(registryId)
    // What the registry could not tie to the member is a hint: it may point at a third party.
    const { proven, unproven } = provenSplit(entry)
    node.manager.addPeers([{ id: entry.peer, addresses: proven, longTerm: true }])
    if (unproven.length > 0) node.manager.addPeers([{ id: entry.peer, addresses: unproven, hint: true }])
    node.manager.protect(entry.peer, 'mesh')
  }

  /** A registry says `peer` left: unprotected once no registry lists it. */
  private forget (registryId: string, peer: string): void {
    const by = this.listedBy.get(peer)
    if (by !== undefined) {
      by.delete(registryId)
      if (by.size > 0) return
      this.listedBy.delete(peer)
    }
    this.opts.node.manager.unprotect(peer, 'mesh')
  }

  private registerMessage (): RegistryMessage {
    return { t: 'register', role: this.opts.role, variant: this.opts.variant, addresses: this.opts.node.addresses.slice(0, MAX_ADDRESSES) }
  }
}
