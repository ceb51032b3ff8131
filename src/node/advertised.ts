import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'
import ipaddr from 'ipaddr.js'
import type { PeerId } from '../manager/types.js'
import { MAX_ADDRESSES } from './wire.js'
import { formatTcpAddress, parseTcpAddress } from './transport.js'

/** Distinct peers that must report the same address of ours before we tell others about it. */
const CONFIRMATIONS = 2
/** Observed IPs under consideration, and confirmed ones kept (a budget: peers report them). */
const MAX_CANDIDATES = 16
const MAX_CONFIRMED = 2

/**
 * The addresses a node tells peers (its hello, its announcements, what it refers others to).
 *
 * Rules:
 * - `announce` given: exactly those, nothing else.
 * - Otherwise the addresses it listens on, a wildcard host (0.0.0.0, ::) expanded to the addresses
 *   of the machine's interfaces (external ones first, loopback last; `::` covers IPv4 too), plus the
 *   addresses peers observe: each peer tells in its hello the IP it sees us at, and an IP that
 *   `CONFIRMATIONS` distinct peers reported is told with each port we listen on (so a node behind a
 *   wildcard or a single NAT learns how others see it). A lone peer cannot make us advertise anything.
 * - At most `MAX_ADDRESSES` (8) addresses are told.
 */
export class AdvertisedAddresses {
  private bound: string[] = []
  private readonly candidates = new Map<string, Set<PeerId>>()
  private readonly confirmed: string[] = []
  private cached: string[] | undefined

  constructor (
    private readonly announce: readonly string[] | undefined,
    private readonly interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces
  ) {}

  /** Where the transport listens now (the bound ports). */
  setBound (bound: readonly string[]): void {
    this.bound = [...bound]
    this.cached = undefined
  }

  /** A peer told us the IP it sees us at (its hello): counted towards `CONFIRMATIONS`. */
  observe (peer: PeerId, ip: string | undefined): void {
    if (this.announce !== undefined || ip === undefined || !ipaddr.isValid(ip)) return
    const addr = ipaddr.process(ip)
    const range = addr.range()
    if (range === 'unspecified' || range === 'multicast' || range === 'broadcast') return
    const key = addr.toString()
    if (this.confirmed.includes(key)) return
    let peers = this.candidates.get(key)
    if (peers === undefined) {
      if (this.candidates.size >= MAX_CANDIDATES) this.candidates.delete(this.candidates.keys().next().value!)
      peers = new Set()
      this.candidates.set(key, peers)
    }
    peers.add(peer)
    if (peers.size < CONFIRMATIONS) return
    this.candidates.delete(key)
    this.confirmed.push(key)
    if (this.confirmed.length > MAX_CONFIRMED) this.confirmed.shift()
    this.cached = undefined
  }

  /** What we tell peers. */
  list (): string[] {
    if (this.cached !== undefined) return this.cached
    const out: string[] = []
    const add = (a: string): void => { if (!out.includes(a) && out.length < MAX_ADDRESSES) out.push(a) }
    if (this.announce !== undefined) {
      for (const a of this.announce) add(a)
    } else {
      for (const a of this.bound) for (const x of this.expand(a)) add(x)
      for (const ip of this.confirmed) for (const a of this.bound) add(formatTcpAddress(ip, parseTcpAddress(a).port))
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
