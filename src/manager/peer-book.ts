import { PeerRecord } from './peer-record.js'
import type { PeerId } from './types.js'

/**
 * The known peers, by id and by address.
 *
 * Rules:
 * - A peer known only by an address (its id comes with the first handshake) is filed under
 *   '@' + address; once a connection names its id, the record is re-filed under the id.
 * - An address belongs to one record at a time: adding it to another record moves it (callers
 *   decide whether it may move: a hint never moves one, see PeerKnowledge).
 * - `resolve(x)` accepts an id or an address.
 */
export class PeerBook {
  private readonly byKey = new Map<string, PeerRecord>()
  private readonly byAddr = new Map<string, PeerRecord>()

  /**
   * `created` hears of every new record (the peer budget tracks it); `orphaned` of a record known
   * only from hints that just lost its last address to another record (the claim was false: the
   * caller forgets it).
   */
  constructor (private readonly hooks: { created?: (record: PeerRecord) => void; orphaned?: (record: PeerRecord) => void } = {}) {}

  get size (): number { return this.byKey.size }

  values (): IterableIterator<PeerRecord> { return this.byKey.values() }

  get (id: PeerId): PeerRecord | undefined { return this.byKey.get(id) }

  byAddress (address: string): PeerRecord | undefined { return this.byAddr.get(address) }

  /** An id or an address. */
  resolve (peerOrAddress: string): PeerRecord | undefined {
    return this.byKey.get(peerOrAddress) ?? this.byAddr.get(peerOrAddress)
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
    const owner = this.byAddr.get(address)
    if (owner === record) return
    if (owner !== undefined) {
      owner.addresses = owner.addresses.filter((a) => a !== address)
      owner.hinted?.delete(address)
      // An address-only record left without an address names nobody any more.
      if (owner.id === undefined && owner.addresses.length === 0 && owner.conn === undefined) {
        this.byKey.delete(owner.key)
        owner.forgotten = true
      } else if (owner.hint && owner.addresses.length === 0 && owner.conn === undefined) {
        this.byAddr.set(address, record)
        record.addresses = appended(record.addresses, address)
        this.hooks.orphaned?.(owner)
        return
      }
    }
    this.byAddr.set(address, record)
    record.addresses = appended(record.addresses, address)
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
