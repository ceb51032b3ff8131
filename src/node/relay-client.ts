import type { Duplex } from 'node:stream'
import { MAX_DELAY } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { Clock, ConnectionManager, PeerId } from '../manager/types.js'
import { CircuitStream } from './circuit.js'
import type { NodeConnection } from './connection.js'
import { helloFlags, RELAY_FLAG } from './hello.js'
import { isRelayed, type RelayClientHandlers, type RelayHub, type RelayLink } from './relay.js'
import { WANTED_RELAYS } from './relay-topic.js'

/** Circuits coming in at once through our relays (a budget: each is a handshake in progress or a connection). */
const MAX_INCOMING = 16
/**
 * Circuits coming in at once through one relay: half of `MAX_INCOMING`, so that a relay holding its
 * circuits half-open (each a handshake waiting for its timeout) cannot take the others' share.
 */
export const MAX_INCOMING_PER_RELAY = 8
/** Relays that refused us, not asked again (a budget). */
const MAX_REFUSERS = 64
/** The protection tag that keeps the manager from trimming a relay we hold a reservation with. */
const RELAY_TAG = 'relay'

/**
 * A relayed address: the relay's TCP address, then `/relay/<relay's peer id>`, e.g.
 * `tcp://192.0.2.1:4001/relay/ab…`. The peer it is told for is the one reached through the relay.
 */
export const RELAYED_ADDRESS = /^(tcp:\/\/(?:\[[^\]]+\]|[^:/#]+):\d+)\/relay\/([0-9a-f]{64})$/

/** The relay's address and id in a relayed address, or undefined for another address. */
export function parseRelayedAddress (address: string): { relay: string; relayId: PeerId } | undefined {
  const m = RELAYED_ADDRESS.exec(address)
  return m === null ? undefined : { relay: m[1]!, relayId: m[2]! }
}

/** What the client needs of the node. */
export interface RelayClientHost {
  readonly clock: Clock
  readonly manager: ConnectionManager
  readonly hub: () => RelayHub
  /** The connections kept now. */
  live(): Iterable<NodeConnection>
  /** The relayed addresses to tell peers changed. */
  relayed(addresses: string[]): void
  /** A circuit to dial over (we are the Noise initiator) and one to accept (the responder). */
  dialOver(stream: Duplex, address: string, opts: { peer?: PeerId; signal: AbortSignal }): Promise<NodeConnection>
  acceptOver(stream: Duplex, address: string): void
}

/**
 * The node's side of relaying: reservations while it is private, dials through relays, circuits
 * that come in.
 *
 * Rules:
 * - While the dial-back check finds us `private`, we keep a reservation with up to `WANTED_RELAYS`
 *   relays among the peers we dialled (so their address is one others can dial too) whose hello
 *   says they relay — the peers we were given, and those the relay topic found (relay-topic.ts); each is protected from trimming while it lasts, renewed at half its ttl (at
 *   most `MAX_DELAY` ms), and told to peers as a relayed address. A 'reserved' we did not ask for
 *   (nor renew) is ignored. A relay that refused is not asked again. Public again, we
 *   let them go.
 * - A circuit comes in only through a relay we hold a reservation with, `MAX_INCOMING` at once
 *   (`MAX_INCOMING_PER_RELAY` through one relay: one holding circuits half-open starves no other), and
 *   not from a peer we banned (refused before any handshake); it becomes an inbound connection like
 *   any other once Noise completes (where the manager checks the proven peer id again).
 * - A dial to a relayed address uses our connection to the relay, or makes one (the manager's
 *   `connectNow`), then opens a circuit and runs the handshake over it.
 */
export class RelayClient implements RelayClientHandlers {
  private private_ = false
  private readonly reservations = new Map<PeerId, { link: RelayLink; address: string; timer: unknown }>()
  private readonly asking = new Set<PeerId>()
  private readonly refusers = new Set<PeerId>()
  private incomingNow = 0
  /** Circuits coming in now, by relay (entries go at zero). */
  private readonly incomingBy = new Map<PeerId, number>()
  /** Circuits we dialled and accepted since the node started. */
  dialled = 0
  accepted = 0

  constructor (private readonly host: RelayClientHost) {}

  /** Relays we hold a reservation with now. */
  get reservationCount (): number { return this.reservations.size }

  /** The dial-back check's verdict: only a private node keeps reservations. */
  setPrivate (isPrivate: boolean): void {
    this.private_ = isPrivate
    if (isPrivate) { this.fill(); return }
    for (const [peer, r] of this.reservations) this.drop(peer, r)
    this.announce()
  }

  /** A connection the node keeps: maybe a relay to reserve with. */
  connected (_conn: NodeConnection): void {
    if (this.private_) this.fill()
  }

  /** Dials `peer` through the relay named in `address`. */
  async dial (address: string, opts: { peer?: PeerId; signal: AbortSignal }): Promise<NodeConnection> {
    const parsed = parseRelayedAddress(address)
    if (parsed === undefined) throw PeerwardenError.invalid(`not a relayed address: ${address}`)
    if (opts.peer === undefined) throw new PeerwardenError('ERR_DIAL_FAILED', `dial to ${address} failed: a relayed dial needs the peer id`)
    let relay = [...this.host.live()].find((c) => c.peer === parsed.relayId && c.open && !isRelayed(c))
    if (relay === undefined) {
      try {
        relay = await this.host.manager.connectNow(`${parsed.relay}#${parsed.relayId}`, { signal: opts.signal }) as NodeConnection
      } catch (err) {
        throw new PeerwardenError('ERR_DIAL_FAILED', `dial to ${address} failed: no connection to the relay (${(err as Error).message})`, { cause: err })
      }
    }
    const link = this.host.hub().link(relay)
    if (link === undefined) throw new PeerwardenError('ERR_DIAL_FAILED', `dial to ${address} failed: the relay connection is gone`)
    const id = link.newId()
    const stream = this.circuit(link, id)
    link.post({ t: 'connect', id, peer: opts.peer })
    this.dialled++
    return await this.host.dialOver(stream, address, opts)
  }

  reserved (link: RelayLink, msg: { ttl: number }): void {
    const peer = link.conn.peer
    const old = this.reservations.get(peer)
    // Only an answer to our 'reserve' (or our renewal): a peer cannot make itself our relay.
    if (!this.asking.delete(peer) && old?.link !== link) return
    if (!this.private_) return
    if (old !== undefined) this.host.clock.clearTimeout(old.timer)
    const timer = msg.ttl > 0 ? this.host.clock.setTimeout(() => { link.post({ t: 'reserve' }) }, Math.min(MAX_DELAY, Math.max(1000, Math.floor(msg.ttl / 2)))) : undefined
    this.reservations.set(peer, { link, address: `${link.conn.address.replace(/#.*$/, '')}/relay/${peer}`, timer })
    this.host.manager.protect(peer, RELAY_TAG)
    this.announce()
  }

  refused (link: RelayLink): void {
    const peer = link.conn.peer
    this.asking.delete(peer)
    if (this.refusers.size >= MAX_REFUSERS) this.refusers.delete(this.refusers.values().next().value!)
    this.refusers.add(peer)
    const r = this.reservations.get(peer)
    if (r !== undefined) { this.drop(peer, r); this.announce() }
    if (this.private_) this.fill()
  }

  incoming (link: RelayLink, id: number, peer: PeerId, observed?: string): void {
    const r = this.reservations.get(link.conn.peer)
    const relay = link.conn.peer
    const through = this.incomingBy.get(relay) ?? 0
    if (r === undefined || r.link !== link || this.incomingNow >= MAX_INCOMING || through >= MAX_INCOMING_PER_RELAY) { link.post({ t: 'close', id, why: 'refused' }); return }
    // The relay names the dialer; a handshake would prove it, but a peer we banned is not worth one.
    if (this.host.manager.getPeer(peer)?.priority === 'banned') { link.post({ t: 'close', id, why: 'banned' }); return }
    this.incomingNow++
    this.incomingBy.set(relay, through + 1)
    const stream = this.circuit(link, id)
    stream.relayObserved = observed
    stream.once('close', () => {
      this.incomingNow--
      const left = (this.incomingBy.get(relay) ?? 1) - 1
      if (left > 0) this.incomingBy.set(relay, left)
      else this.incomingBy.delete(relay)
    })
    this.accepted++
    this.host.acceptOver(stream, r.address)
  }

  closed (link: RelayLink): void {
    const peer = link.conn.peer
    this.asking.delete(peer)
    const r = this.reservations.get(peer)
    if (r?.link !== link) return
    this.drop(peer, r)
    this.announce()
    if (this.private_) this.fill()
  }

  close (): void {
    for (const r of this.reservations.values()) this.host.clock.clearTimeout(r.timer)
    this.reservations.clear()
  }

  private circuit (link: RelayLink, id: number): CircuitStream {
    const stream = new CircuitStream({
      data: (bytes) => link.data(id, bytes),
      close: (why) => { if (link.circuits.delete(id)) link.post({ t: 'close', id, why }) }
    }, link.conn)
    link.circuits.set(id, { kind: 'local', stream })
    return stream
  }

  private fill (): void {
    for (const conn of this.host.live()) {
      if (this.reservations.size + this.asking.size >= WANTED_RELAYS) return
      const peer = conn.peer
      if (conn.direction !== 'outbound' || !conn.open || isRelayed(conn) || (helloFlags(conn.stream.remotePayload) & RELAY_FLAG) === 0) continue
      if (this.reservations.has(peer) || this.asking.has(peer) || this.refusers.has(peer)) continue
      const link = this.host.hub().link(conn)
      if (link === undefined) continue
      this.asking.add(peer)
      link.post({ t: 'reserve' })
    }
  }

  private drop (peer: PeerId, r: { timer: unknown }): void {
    this.host.clock.clearTimeout(r.timer)
    this.reservations.delete(peer)
    this.host.manager.unprotect(peer, RELAY_TAG)
  }

  private announce (): void {
    this.host.relayed([...this.reservations.values()].map((r) => r.address))
  }
}
