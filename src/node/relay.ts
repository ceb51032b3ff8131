import { addressRange } from '../manager/address-range.js'
import type { Clock, PeerId } from '../manager/types.js'
import * as check from '../manager/validate.js'
import { CircuitStream } from './circuit.js'
import type { NodeConnection } from './connection.js'
import type { Channel, Message } from './vendor/protomux.js'
import { decodeRelay, RELAY_PROTOCOL, relayData, type RelayData, type RelayMessage } from './relay-wire.js'
import { MALFORMED, peerHandler, smallJson } from './wire.js'
import { canonicalIp } from '../manager/canonical-ip.js'

/** The budgets of a relay (`relay` option). */
export interface RelayLimits {
  /** Peers holding a reservation at once. Default 32. */
  maxReservations: number
  /**
   * Of those, peers of one public address range (an IPv4 /24, an IPv6 /48) at most: identities are
   * free, so one host must not take every place. Default 4 (loopback and private addresses are not limited).
   */
  maxReservationsPerRange: number
  /** How long a reservation lasts unless renewed (ms). Default 1 h. */
  reservationTtl: number
  /** Circuits open at once, and per peer (either end). Defaults 64 and 16. */
  maxCircuits: number
  maxCircuitsPerPeer: number
  /** A circuit's life (ms, 0 = none): it is cut after. Default 2 min (as libp2p's circuit relay v2). */
  duration: number
  /** Bytes a circuit carries each way (0 = none): it is cut past them. Default 128 KiB (as circuit relay v2). */
  data: number
}

/**
 * Bytes waiting to go out on a connection (its socket's write buffer) past which the relay cuts a
 * circuit rather than forward more to it: that end does not read, and the data budget is per
 * circuit, so circuits opened one after another would otherwise queue without bound.
 */
export const MAX_RELAY_BACKLOG = 1024 * 1024

export const RELAY_DEFAULTS: RelayLimits = { maxReservations: 32, maxReservationsPerRange: 4, reservationTtl: 3_600_000, maxCircuits: 64, maxCircuitsPerPeer: 16, duration: 120_000, data: 128 * 1024 }

/** One end of a circuit on a link: ours (a stream we read and write) or one the relay forwards. */
type CircuitEnd = { kind: 'local'; stream: CircuitStream } | { kind: 'relay'; circuit: Circuit; side: 0 | 1 }

/** A circuit the relay forwards: its two ends (link and id on that link), bytes each way, its timer, what it counts against (`perPeer` keys). */
interface Circuit { ends: [{ link: RelayLink; id: number }, { link: RelayLink; id: number }]; bytes: [number, number]; timer: unknown; counted: string[] }

/** What the client side of the node hears on a relay channel (relay-client.ts). */
export interface RelayClientHandlers {
  reserved(link: RelayLink, msg: { ttl: number; duration: number; data: number }): void
  refused(link: RelayLink, why: string): void
  incoming(link: RelayLink, id: number, peer: PeerId, observed?: string): void
  closed(link: RelayLink): void
}

/**
 * The parity of the circuit ids `chooser` picks on its link with `other`: 0 (even) for the lower
 * peer id, 1 (odd) for the higher. Both ends compute the same split without a word on the wire.
 */
export function circuitIdParity (chooser: PeerId, other: PeerId): 0 | 1 {
  return chooser < other ? 0 : 1
}

/** A connection that runs over a relay (its socket is a circuit): never relayed over again. */
export function isRelayed (conn: NodeConnection): boolean {
  return conn.stream.socket instanceof CircuitStream
}

/**
 * The relay channel on one connection: both roles (the client's and the relay's) share it, and both
 * ends may be relays for each other. Circuit ids are namespaced by who chose them, not by role: the
 * end with the lower peer id chooses even ids, the other odd ones (`circuitIdParity`), so ids chosen
 * by the two ends never clash.
 */
export class RelayLink {
  readonly circuits = new Map<number, CircuitEnd>()
  private nextId: number
  closed = false
  private sendJson!: Message<RelayMessage>
  private sendData!: Message<RelayData>

  constructor (readonly conn: NodeConnection, private readonly channel: Channel, readonly localId: PeerId) {
    this.nextId = circuitIdParity(localId, conn.peer) === 0 ? 2 : 1
  }

  /** @internal Wires the messages (see `RelayHub.link`). */
  init (sendJson: Message<RelayMessage>, sendData: Message<RelayData>): void {
    this.sendJson = sendJson
    this.sendData = sendData
  }

  post (msg: RelayMessage): boolean {
    if (this.closed) return false
    try { return this.sendJson.send(msg) } catch { return false }
  }

  data (id: number, data: Uint8Array): boolean {
    if (this.closed) return false
    try { this.sendData.send({ id, data }); return true } catch { return false }
  }

  /** Bytes waiting to go out on the connection (its socket's write buffer). */
  get backlog (): number { return this.conn.stream.socket.writableLength }

  /** A new id for a circuit we open (as a client dialling through the remote, or as a relay telling it 'incoming'). */
  newId (): number {
    const id = this.nextId
    this.nextId += 2
    return id
  }

  /** Whether the remote end may have chosen `id` (the other parity than ours) and it is not in use. */
  remoteMayOpen (id: number): boolean {
    return id % 2 === circuitIdParity(this.conn.peer, this.localId) && !this.circuits.has(id)
  }

  close (): void { this.channel.close() }
}

/**
 * The relay channels of the node's connections and, when the node serves as a relay, the service.
 *
 * Rules (the service):
 * - A reservation ('reserve') is taken while fewer than `maxReservations` peers hold one, and fewer
 *   than `maxReservationsPerRange` of its public address range (a peer renewing keeps its place),
 *   lasts `reservationTtl`, and ends with its connection.
 * - A circuit ('connect') opens only to another peer holding a live reservation (never to the
 *   dialer itself), within `maxCircuits` and `maxCircuitsPerPeer` (for both ends, and for each end's
 *   public address range: many identities on one host share one budget); it is cut ('close' to both ends) after `duration` or when
 *   one direction passed `data` bytes, when the end it forwards to has more than
 *   `MAX_RELAY_BACKLOG` bytes waiting to go out (it does not read), and when either end closes or
 *   its connection goes.
 * - Reservations and circuits asked for over a relayed connection are refused: no relaying over a
 *   relay. So are reservations while the dial-back check finds the relay itself private.
 * - The relay forwards bytes only: both ends run Noise end to end, the relay sees ciphertext.
 * - A message that does not decode, a circuit id the remote may not choose (`circuitIdParity`) or already in use, or data
 *   over `MAX_RELAY_DATA` is a protocol error: the connection closes.
 */
export class RelayHub {
  private readonly links = new Map<NodeConnection, RelayLink>()
  private readonly reservations = new Map<PeerId, { link: RelayLink; expires: number }>()
  private readonly circuits = new Set<Circuit>()
  /** Circuits open per peer, and per public address range (keys 'range:…'). */
  private readonly perPeer = new Map<string, number>()
  readonly limits: RelayLimits | undefined
  /** Reservations and circuits the service refused, circuits it cut for a budget, bytes it forwarded. */
  refused = 0
  cut = 0
  bytes = 0

  /** Whether others can dial us now (not found private): a relay nobody can reach is no use. */
  reachable: () => boolean = () => true

  constructor (private readonly clock: Clock, private readonly client: RelayClientHandlers, limits: Partial<RelayLimits> | boolean | undefined, private readonly localId: PeerId) {
    if (limits === undefined || limits === false) return
    const given = limits === true ? {} : limits
    check.rejectUnknownOptions('relay', given, Object.keys(RELAY_DEFAULTS))
    this.limits = { ...RELAY_DEFAULTS, ...given }
    for (const [name, value] of Object.entries(this.limits)) check.int(`relay.${name}`, value, name === 'duration' || name === 'data' ? 0 : 1)
  }

  /** Whether the node serves as a relay. */
  get serving (): boolean { return this.limits !== undefined }
  /** Reservations held now. */
  get reservationCount (): number { return this.reservations.size }
  /** Circuits forwarded now. */
  get circuitCount (): number { return this.circuits.size }

  /** A connection the node keeps: as a relay, a channel the remote opens is taken. */
  attach (conn: NodeConnection): void {
    if (!this.serving || isRelayed(conn)) return
    conn.mux.pair({ protocol: RELAY_PROTOCOL }, () => { this.link(conn) })
  }

  /** The relay channel on `conn`, opened now when there is none. */
  link (conn: NodeConnection): RelayLink | undefined {
    const known = this.links.get(conn)
    if (known !== undefined) return known
    if (!conn.open) return undefined
    let link: RelayLink | undefined
    const channel = conn.mux.createChannel({ protocol: RELAY_PROTOCOL, onclose: () => { if (link !== undefined) this.closed(link) } })
    if (channel === null) return undefined
    link = new RelayLink(conn, channel, this.localId)
    const l = link
    const bad = (why: string): void => { conn.protocolError(`relay: ${why}`) }
    link.init(
      channel.addMessage<RelayMessage>({ encoding: smallJson, onmessage: peerHandler(decodeRelay, (m) => { this.message(l, m) }, bad) }),
      channel.addMessage<RelayData>({ encoding: relayData, onmessage: peerHandler(decodeData, (m) => { this.data(l, m) }, bad) })
    )
    this.links.set(conn, link)
    channel.open()
    return link
  }

  /** Ends every circuit and channel (the node closes). */
  close (): void {
    for (const link of [...this.links.values()]) this.closed(link)
  }

  private message (link: RelayLink, m: RelayMessage): void {
    switch (m.t) {
      case 'reserve': this.reserve(link); return
      case 'connect': this.connect(link, m.id, m.peer); return
      case 'reserved': this.client.reserved(link, m); return
      case 'refused': this.client.refused(link, m.why); return
      case 'incoming':
        if (!link.remoteMayOpen(m.id)) { link.conn.protocolError('relay: circuit id'); return }
        this.client.incoming(link, m.id, m.peer, m.observed)
        return
      case 'close': {
        const end = link.circuits.get(m.id)
        if (end === undefined) return
        link.circuits.delete(m.id)
        if (end.kind === 'local') end.stream.remoteClosed()
        else this.endCircuit(end.circuit, m.why ?? 'closed', end.side)
      }
    }
  }

  private data (link: RelayLink, m: RelayData): void {
    const end = link.circuits.get(m.id)
    if (end === undefined) return // late bytes of a circuit that just closed
    if (end.kind === 'local') { end.stream.received(m.data); return }
    const { circuit, side } = end
    circuit.bytes[side] += m.data.byteLength
    if (this.limits!.data > 0 && circuit.bytes[side] > this.limits!.data) { this.cut++; this.endCircuit(circuit, 'data limit'); return }
    const other = circuit.ends[side === 0 ? 1 : 0]
    if (other.link.backlog > MAX_RELAY_BACKLOG) { this.cut++; this.endCircuit(circuit, 'backlog'); return }
    this.bytes += m.data.byteLength
    other.link.data(other.id, m.data)
  }

  private reserve (link: RelayLink): void {
    const limits = this.limits
    const peer = link.conn.peer
    const refuse = (why: string): void => { this.refused++; link.post({ t: 'refused', why }) }
    if (limits === undefined) { refuse('not a relay'); return }
    if (isRelayed(link.conn)) { refuse('over a relayed connection'); return }
    if (!this.reachable()) { refuse('not reachable'); return }
    const now = this.clock.now()
    for (const [p, r] of this.reservations) if (r.expires <= now || r.link.closed) this.reservations.delete(p)
    if (!this.reservations.has(peer)) {
      if (this.reservations.size >= limits.maxReservations) { refuse('reservations full'); return }
      const range = rangeOf(link.conn)
      if (range !== undefined) {
        let n = 0
        for (const r of this.reservations.values()) if (rangeOf(r.link.conn) === range) n++
        if (n >= limits.maxReservationsPerRange) { refuse('reservations full for the address range'); return }
      }
    }
    this.reservations.set(peer, { link, expires: now + limits.reservationTtl })
    link.post({ t: 'reserved', ttl: limits.reservationTtl, duration: limits.duration, data: limits.data })
  }

  private connect (link: RelayLink, id: number, target: PeerId): void {
    if (!link.remoteMayOpen(id)) { link.conn.protocolError('relay: circuit id'); return }
    const limits = this.limits
    const refuse = (why: string): void => { this.refused++; link.post({ t: 'close', id, why }) }
    if (limits === undefined) { refuse('not a relay'); return }
    if (isRelayed(link.conn)) { refuse('over a relayed connection'); return }
    const r = this.reservations.get(target)
    if (r === undefined || r.link.closed || r.expires <= this.clock.now()) { refuse('no reservation'); return }
    const from = link.conn.peer
    if (target === from) { refuse('to itself'); return }
    const ranges = [rangeOf(link.conn), rangeOf(r.link.conn)].filter((x) => x !== undefined).map((x) => `range:${x}`)
    const ends = [from, target, ...new Set(ranges)]
    if (this.circuits.size >= limits.maxCircuits || ends.some((e) => (this.perPeer.get(e) ?? 0) >= limits.maxCircuitsPerPeer)) {
      refuse('resource limit')
      return
    }
    const rid = r.link.newId()
    const circuit: Circuit = { ends: [{ link, id }, { link: r.link, id: rid }], bytes: [0, 0], timer: undefined, counted: ends }
    this.circuits.add(circuit)
    for (const p of ends) this.perPeer.set(p, (this.perPeer.get(p) ?? 0) + 1)
    link.circuits.set(id, { kind: 'relay', circuit, side: 0 })
    r.link.circuits.set(rid, { kind: 'relay', circuit, side: 1 })
    if (limits.duration > 0) circuit.timer = this.clock.setTimeout(() => { this.cut++; this.endCircuit(circuit, 'duration limit') }, limits.duration)
    // Where the dialer's connection comes from: the only address a hole punch toward it should go to.
    const remote = (link.conn.stream.socket as { remoteAddress?: string }).remoteAddress
    const observed = remote === undefined ? undefined : canonicalIp(remote) ?? remote
    r.link.post({ t: 'incoming', id: rid, peer: from, ...(observed !== undefined ? { observed } : {}) })
  }

  /** Ends a forwarded circuit: both ends are told, but the side that closed it. */
  private endCircuit (circuit: Circuit, why: string, from?: 0 | 1): void {
    if (!this.circuits.delete(circuit)) return
    this.clock.clearTimeout(circuit.timer)
    for (const key of circuit.counted) {
      const n = (this.perPeer.get(key) ?? 1) - 1
      if (n <= 0) this.perPeer.delete(key)
      else this.perPeer.set(key, n)
    }
    circuit.ends.forEach((end, side) => {
      end.link.circuits.delete(end.id)
      if (side !== from) end.link.post({ t: 'close', id: end.id, why })
    })
  }

  private closed (link: RelayLink): void {
    if (link.closed) return
    link.closed = true
    this.links.delete(link.conn)
    const r = this.reservations.get(link.conn.peer)
    if (r?.link === link) this.reservations.delete(link.conn.peer)
    for (const [id, end] of [...link.circuits]) {
      link.circuits.delete(id)
      if (end.kind === 'local') end.stream.remoteClosed()
      else this.endCircuit(end.circuit, 'gone', end.side)
    }
    try { link.close() } catch { /* already closing */ }
    this.client.closed(link)
  }
}

/** The public address range (see `addressRange`) of a connection's remote, if any. */
function rangeOf (conn: NodeConnection): string | undefined {
  return typeof conn.address === 'string' ? addressRange(conn.address, true) : undefined
}

function decodeData (raw: unknown): { ok: true; value: RelayData } | { ok: false; why: string } {
  return raw === MALFORMED ? { ok: false, why: 'malformed data message' } : { ok: true, value: raw as RelayData }
}
