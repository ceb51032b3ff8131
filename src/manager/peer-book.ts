import { PeerRecord } from './peer-record.js'
import type { PeerId } from './types.js'

/**
 * What a network where every peer has one address of its own may tell the peer books (the
 * simulation's in-memory network, whose 100,000 nodes each know hundreds of the same peers): the
 * book then keeps no address entry for a peer at its own address, and the peers share one list per
 * address. Internal: given to `createConnectionManager` under the `ADDRESS_SCHEME` symbol.
 */
export interface AddressScheme {
  /** The id of the peer whose own address this is; undefined when none. */
  idOf(address: string): PeerId | undefined
  /** A one-element list of `address`, the same one for every book (never changed in place). */
  list(address: string): string[]
}

/** The options key of an `AddressScheme` (a symbol: no public option, ignored by the options' checks). */
export const ADDRESS_SCHEME = Symbol('peerwarden.addressScheme')

/**
 * The known peers, by id and by address.
 *
 * Rules:
 * - A peer known only by an address (its id comes with the first handshake) is filed under
 *   '@' + address; once a connection names its id, the record is re-filed under the id.
 * - An address belongs to one record at a time: adding it to another record moves it (callers
 *   decide whether it may move: a hint never moves one, see PeerKnowledge).
 * - `resolve(x)` accepts an id or an address.
 * - With an `AddressScheme`, a peer's own address (`idOf(address) === id`) held by that peer has no
 *   entry in the address index: `byAddress` finds it through the id. Any other holder has one.
 */
export class PeerBook {
  private readonly byKey = new Map<string, PeerRecord>()
  private readonly byAddr = new Map<string, PeerRecord>()

  /**
   * `created` hears of every new record (the peer budget tracks it); `orphaned` of a record known
   * only from hints that just lost its last address to another record (the claim was false: the
   * caller forgets it).
   */
  constructor (
    private readonly hooks: { created?: (record: PeerRecord) => void; orphaned?: (record: PeerRecord) => void } = {},
    private readonly scheme?: AddressScheme
  ) {}

  get size (): number { return this.byKey.size }

  values (): IterableIterator<PeerRecord> { return this.byKey.values() }

  get (id: PeerId): PeerRecord | undefined { return this.byKey.get(id) }

  byAddress (address: string): PeerRecord | undefined {
    const found = this.byAddr.get(address)
    if (found !== undefined || this.scheme === undefined) return found
    const id = this.scheme.idOf(address)
    const own = id === undefined ? undefined : this.byKey.get(id)
    return own !== undefined && own.addresses.includes(address) ? own : undefined
  }

  /** An id or an address. */
  resolve (peerOrAddress: string): PeerRecord | undefined {
    return this.byKey.get(peerOrAddress) ?? this.byAddress(peerOrAddress)
  }

  /** The record of `id`, created when unknown (`hint`: from a hint only). `created` tells the caller. */
  getOrCreate (id: PeerId, now: number, hint = false): { record: PeerRecord; created: boolean } {
    const found = this.byKey.get(id)
    if (found !== undefined) return { record: found, created: false }
    return { record: this.create(id, now, hint), created: true }
  }

  /** A new record for `id`, which the caller has just looked up and not found (`get`). */
  create (id: PeerId, now: number, hint = false): PeerRecord {
    const record = new PeerRecord(id, id, now)
    record.hint = hint
    this.byKey.set(id, record)
    this.hooks.created?.(record)
    return record
  }

  /** A record for a peer known by address only. `hint`: known only from a hint (PeerInput.hint). */
  createForAddress (address: string, now: number, hint = false): PeerRecord {
    const record = new PeerRecord('@' + address, undefined, now)
    record.hint = hint
    this.byKey.set(record.key, record)
    this.addAddress(record, address)
    this.hooks.created?.(record)
    return record
  }

  /** Gives an address-only record its id. If a record with that id exists, the two are merged into it and it is returned. */
  assignId (record: PeerRecord, id: PeerId): PeerRecord {
    if (record.id === id) return record
    const existing = this.byKey.get(id)
    if (existing !== undefined && existing !== record) {
      for (const a of record.addresses) this.addAddress(existing, a)
      this.byKey.delete(record.key)
      record.forgotten = true
      return existing
    }
    this.byKey.delete(record.key)
    record.key = id
    record.id = id
    this.byKey.set(id, record)
    return record
  }

  addAddress (record: PeerRecord, address: string): void {
    const owner = this.byAddress(address)
    if (owner === record) return
    if (owner !== undefined) {
      owner.addresses = owner.addresses.filter((a) => a !== address)
      owner.hinted?.delete(address)
      // An address-only record left without an address names nobody any more.
      if (owner.id === undefined && owner.addresses.length === 0 && owner.conn === undefined) {
        this.byKey.delete(owner.key)
        owner.forgotten = true
      } else if (owner.hint && owner.addresses.length === 0 && owner.conn === undefined) {
        this.file(record, address)
        this.hooks.orphaned?.(owner)
        return
      }
    }
    this.file(record, address)
  }

  /** Files `address` as `record`'s (the address index, then the list). */
  private file (record: PeerRecord, address: string): void {
    const scheme = this.scheme
    if (scheme === undefined) {
      this.byAddr.set(address, record)
      record.addresses = appended(record.addresses, address)
      return
    }
    if (record.id !== undefined && scheme.idOf(address) === record.id) this.byAddr.delete(address)
    else this.byAddr.set(address, record)
    record.addresses = record.addresses.length === 0 ? scheme.list(address) : appended(record.addresses, address)
  }

  delete (record: PeerRecord): void {
    record.forgotten = true
    this.byKey.delete(record.key)
    for (const a of record.addresses) if (this.byAddr.get(a) === record) this.byAddr.delete(a)
  }
}

/**
 * A new array of `list` and `x`, sized exactly: a spread (`[...list, x]`) reserves room for 16 more
 * elements, about 150 bytes per record of a book that holds 100,000 peers with one address each.
 */
function appended (list: readonly string[], x: string): string[] {
  if (list.length === 0) return [x]
  if (list.length === 1) return [list[0], x]
  return list.concat(x)
}
