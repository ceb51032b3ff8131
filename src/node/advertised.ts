import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'
import ipaddr from 'ipaddr.js'
import { canonicalIp } from '../manager/canonical-ip.js'
import type { PeerId } from '../manager/types.js'
import type { Reachability } from './types.js'
import { MAX_ADDRESSES } from './wire.js'
import { formatTcpAddress, parseTcpAddress } from './transport.js'

/**
 * Distinct observers that must report the same address of ours before we tell others about it. An
 * observer is the address range we see the reporting peer in (see `observerKey`), so one host running
 * many identities, or one network of many hosts, is one observer (go-libp2p believes an observed address after 4; js-libp2p's
 * AutoNAT confirms after 4 too). On loopback every peer is its own observer (one machine).
 */
export const CONFIRMATIONS = 3
/** Observed IPs under consideration (a budget: peers report them). */
const MAX_CANDIDATES = 16
/** Observers remembered per IP (a budget: it only needs `CONFIRMATIONS`). */
const MAX_OBSERVERS = 8
/** Confirmed IPs told at most: those with the most observers. */
const MAX_CONFIRMED = 2
/**
 * How long an observation counts once its observer stops reporting it (ms): an observer still
 * connected to us keeps it fresh. Past it a confirmed IP that kept fewer than `CONFIRMATIONS` fresh
 * observers is no longer told (a NAT that changed its public IP, or observers that lied and left).
 */
export const OBSERVED_TTL = 10 * 60_000
/** How often the observations are aged at most (on `list` and `observe`). */
const AGE_EVERY = 30_000

/** Where observations come from besides hellos: the time, and the observers connected now with the IP each sees us at. */
export interface ObservationSource {
  now(): number
  live(): Iterable<{ observer: string | undefined; ip: string | undefined }>
}

/** Observers (see `observerKey`) of one IP, each with when it last reported it. */
type Observers = Map<string, number>

/** The IP each observer reported last, at most this many observers (a budget: one per observer in the tables). */
const MAX_CLAIMS = (MAX_CANDIDATES + MAX_CONFIRMED) * MAX_OBSERVERS

/**
 * The addresses a node tells peers (its hello, its announcements, what it refers others to).
 *
 * Rules:
 * - `announce` given: exactly those, nothing else.
 * - Otherwise the addresses it listens on, a wildcard host (0.0.0.0, ::) expanded to the addresses
 *   of the machine's interfaces (external ones first, loopback last; `::` covers IPv4 too), plus the
 *   addresses peers observe: each peer tells in its hello the IP it sees us at, and an IP that
 *   `CONFIRMATIONS` distinct observers (see `observerKey`) reported is told with each port we listen
 *   on (so a node behind a wildcard or a single NAT learns how others see it). A lone peer, or many
 *   identities on one host, cannot make us advertise anything. A loopback IP counts only from
 *   peers on our own host, and they count for nothing else.
 * - An observer counts for one IP: the last it reported (a host sees us at one IP; one that reports
 *   many cannot fill the candidates). Candidates past `MAX_CANDIDATES` make room by the one with the
 *   fewest observers (the oldest of those); past `MAX_CONFIRMED` confirmed IPs, the one with the
 *   fewest observers goes back to the candidates (on a tie the newest), so liars that confirm two IPs
 *   cannot push out one more observers agree on.
 * - Observations age: one counts while its observer is connected and reports that IP, and
 *   `OBSERVED_TTL` after; a confirmed IP with fewer than `CONFIRMATIONS` fresh observers is dropped
 *   (and must be confirmed again).
 * - Once the dial-back check (dial-back.ts) found us `private`, none of those is told (nobody outside
 *   can dial them): only the relayed addresses we hold a reservation for (relay-client.ts).
 *   `public` and `unknown` tell the direct addresses, then the relayed ones.
 * - At most `MAX_ADDRESSES` (8) addresses are told.
 */
export class AdvertisedAddresses {
  private bound: string[] = []
  private readonly candidates = new Map<string, Observers>()
  /** Confirmed IPs, oldest first, with their observers. */
  private readonly confirmed = new Map<string, Observers>()
  /** The IP (key of `candidates` or `confirmed`) each observer reported last. */
  private readonly claims = new Map<string, string>()
  private agedAt = -Infinity
  private relayed: string[] = []
  private reachability: Reachability = 'unknown'
  private cached: string[] | undefined

  constructor (
    private readonly announce: readonly string[] | undefined,
    private readonly interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces,
    private readonly source: ObservationSource = { now: () => Date.now(), live: () => [] }
  ) {}

  /** Where the transport listens now (the bound ports). */
  setBound (bound: readonly string[]): void {
    this.bound = [...bound]
    this.cached = undefined
  }

  /** The dial-back check's verdict (dial-back.ts): `private` stops telling direct addresses. */
  setReachability (reachability: Reachability): void {
    if (reachability === this.reachability) return
    this.reachability = reachability
    this.cached = undefined
  }

  /** The relayed addresses we hold reservations for now (relay-client.ts). */
  setRelayed (addresses: readonly string[]): void {
    this.relayed = addresses.slice(0, MAX_ADDRESSES)
    this.cached = undefined
  }

  /** The IPs `CONFIRMATIONS` observers agree we are seen at. */
  get observed (): readonly string[] {
    this.age()
    return [...this.confirmed.keys()]
  }

  /** Where the transport listens now. */
  get listening (): readonly string[] { return this.bound }

  /**
   * An observer (see `observerKey`) told us the IP it sees us at (its hello): counted towards
   * `CONFIRMATIONS`.
   */
  observe (observer: string | undefined, claimed: string | undefined): void {
    // However the peer spelt it (`::ffff:7f00:1`, `::1.2.3.4`, upper case): one key per address.
    const ip = claimed === undefined ? undefined : canonicalIp(claimed)
    if (this.announce !== undefined || observer === undefined || ip === undefined || !ipaddr.isValid(ip)) return
    const addr = ipaddr.process(ip)
    const range = addr.range()
    if (range === 'unspecified' || range === 'multicast' || range === 'broadcast') return
    // Only a peer on our own host (a loopback observer) sees us at a loopback IP, and at nothing else.
    if ((range === 'loopback') !== observer.startsWith('peer:')) return
    const key = addr.toString()
    const now = this.source.now()
    this.age(now)
    this.claim(observer, key)
    const known = this.confirmed.get(key)
    if (known !== undefined) { note(known, observer, now); return }
    let peers = this.candidates.get(key)
    if (peers === undefined) {
      if (this.candidates.size >= MAX_CANDIDATES) this.candidates.delete(fewest(this.candidates, false))
      peers = new Map()
      this.candidates.set(key, peers)
    }
    note(peers, observer, now)
    if (peers.size < CONFIRMATIONS) return
    this.candidates.delete(key)
    this.confirmed.set(key, peers)
    if (this.confirmed.size > MAX_CONFIRMED) {
      const weakest = fewest(this.confirmed, true)
      const observers = this.confirmed.get(weakest)!
      this.confirmed.delete(weakest)
      this.candidates.set(weakest, observers)
      if (this.candidates.size > MAX_CANDIDATES) this.candidates.delete(fewest(this.candidates, false))
    }
    this.cached = undefined
  }

  /** `observer` reports `key` now: it no longer counts for the IP it reported before. */
  private claim (observer: string, key: string): void {
    const before = this.claims.get(observer)
    if (before === key) return
    this.claims.delete(observer)
    if (before !== undefined) {
      const candidate = this.candidates.get(before)
      if (candidate?.delete(observer) === true && candidate.size === 0) this.candidates.delete(before)
      const confirmed = this.confirmed.get(before)
      if (confirmed?.delete(observer) === true && confirmed.size < CONFIRMATIONS) {
        this.confirmed.delete(before)
        this.cached = undefined
        if (this.candidates.size < MAX_CANDIDATES) this.candidates.set(before, confirmed)
      }
    }
    if (this.claims.size >= MAX_CLAIMS) this.claims.delete(this.claims.keys().next().value!)
    this.claims.set(observer, key)
  }

  /**
   * Ages the observations (at most every `AGE_EVERY` ms): the observers connected now are fresh,
   * the others count until `OBSERVED_TTL` after their last report.
   */
  private age (now = this.source.now()): void {
    if (now - this.agedAt < AGE_EVERY) return
    this.agedAt = now
    if (this.confirmed.size === 0 && this.candidates.size === 0) return
    for (const live of this.source.live()) {
      const { observer } = live
      const ip = live.ip === undefined ? undefined : canonicalIp(live.ip)
      if (observer === undefined || ip === undefined || !ipaddr.isValid(ip)) continue
      const key = ipaddr.process(ip).toString()
      const peers = this.confirmed.get(key) ?? this.candidates.get(key)
      if (peers?.has(observer) === true) peers.set(observer, now)
    }
    for (const [table, least] of [[this.confirmed, CONFIRMATIONS], [this.candidates, 1]] as const) {
      for (const [key, peers] of table) {
        for (const [observer, at] of peers) if (now - at > OBSERVED_TTL) peers.delete(observer)
        if (peers.size >= least) continue
        table.delete(key)
        if (table === this.confirmed) this.cached = undefined
      }
    }
  }

  /** What we tell peers. */
  list (): string[] {
    this.age()
    if (this.cached !== undefined) return this.cached
    const out: string[] = []
    const add = (a: string): void => { if (!out.includes(a) && out.length < MAX_ADDRESSES) out.push(a) }
    if (this.announce !== undefined) {
      for (const a of this.announce) add(a)
    } else {
      if (this.reachability !== 'private') {
        for (const a of this.bound) for (const x of this.expand(a)) add(x)
        for (const ip of this.confirmed.keys()) for (const a of this.bound) add(formatTcpAddress(ip, parseTcpAddress(a).port))
      }
      for (const a of this.relayed) add(a)
    }
    this.cached = out
    return out
  }

  /** A listen address with a wildcard host → one per interface address of the family; others as they are. */
  private expand (address: string): string[] {
    const { host, port } = parseTcpAddress(address)
    if (host !== '0.0.0.0' && host !== '::') return [address]
    const external: string[] = []
    const internal: string[] = []
    for (const list of Object.values(this.interfaces())) {
      for (const i of list ?? []) {
        if (i.family === 'IPv6' && (host === '0.0.0.0' || i.address.toLowerCase().startsWith('fe80'))) continue // link-local needs a scope
        ;(i.internal ? internal : external).push(formatTcpAddress(i.address, port))
      }
    }
    return [...external, ...internal]
  }
}

/**
 * Who counts as one observer of our address: the IP we see the reporting peer at — a public IPv4
 * address by its /24 and an IPv6 address by its /48 (one network, one site: the ranges of the
 * manager's range rule, address-range.ts) — so a host with many identities, or a few hosts of one
 * network, is one observer. On loopback (one machine)
 * each peer id counts. Undefined when we do not know the peer's IP (a relayed connection: the relay
 * saw us, not the peer).
 */
export function observerKey (remoteIp: string | undefined, peer: PeerId): string | undefined {
  const canonical = remoteIp === undefined ? undefined : canonicalIp(remoteIp)
  if (canonical === undefined || !ipaddr.isValid(canonical)) return undefined
  const ip = ipaddr.process(canonical)
  if (ip.range() === 'loopback') return `peer:${peer}`
  // A public IPv4 address by its /24: three hosts of one network must not confirm whatever IP they
  // like (a node would advertise a victim's address to every peer). On a private network (a LAN, the
  // lab's hosts) each IP counts.
  if (ip.kind() === 'ipv4') return ip.range() === 'unicast' ? `v4:${(ip as ipaddr.IPv4).octets.slice(0, 3).join('.')}` : ip.toString()
  // By its /48: a site often holds a /48, and 256 /56s of one would otherwise be 256 observers.
  return `v6:${(ip as ipaddr.IPv6).parts.slice(0, 3).map((p) => p.toString(16)).join(':')}`
}

/** The IP of `table` with the fewest observers: on a tie the oldest, or the newest with `newest`. */
function fewest (table: Map<string, Observers>, newest: boolean): string {
  let pick = ''
  let least = Infinity
  for (const [key, peers] of table) {
    if (peers.size < least || (newest && peers.size === least)) { pick = key; least = peers.size }
  }
  return pick
}

/** `observer` reported the IP at `now` (within `MAX_OBSERVERS`: the oldest report makes room). */
function note (peers: Observers, observer: string, now: number): void {
  if (!peers.has(observer) && peers.size >= MAX_OBSERVERS) peers.delete(peers.keys().next().value!)
  peers.delete(observer)
  peers.set(observer, now)
}
