import type { CellAllocator } from './cells.js'
import { CompactPeers } from './compact-peers.js'
import { CompactRow, type RowNumbering } from './compact-row.js'
import { DecisionLog } from './decision-log.js'
import { PeerRecord, reserveSeq } from './peer-record.js'
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
  /**
   * With these three, the books keep a peer they know nothing about but its id and own address as a
   * number (`PeerBook`, "compact peers"): the peer's number (a non-negative integer, -1 when none),
   * the id of a number, and the one-element list of its own address.
   */
  indexOf?(id: PeerId): number
  idAt?(index: number): PeerId
  listAt?(index: number): string[]
  /** Where the books' compact peers take their arrays from (a simulation shares slabs among its nodes); default: each its own buffer. */
  cells?: CellAllocator
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
  /** Compact peers (an `AddressScheme` that numbers peers): by number, without a record. */
  private readonly compact: CompactPeers | undefined

  /**
   * `created` hears of every new record (the peer budget tracks it); `orphaned` of a record known
   * only from hints that just lost its last address to another record (the claim was false: the
   * caller forgets it); `expanded` of a compact peer that became a record because someone asked for
   * it (the indexes file it). `decisions`: where the records keep what `explain()` shows (each
   * record made here writes to it).
   */
  constructor (
    private readonly hooks: { created?: (record: PeerRecord) => void; orphaned?: (record: PeerRecord) => void; expanded?: (record: PeerRecord) => void } = {},
    private readonly scheme?: AddressScheme,
    readonly decisions = new DecisionLog()
  ) {
    this.compact = scheme?.indexOf !== undefined && scheme.idAt !== undefined && scheme.listAt !== undefined ? new CompactPeers(scheme.cells) : undefined
  }

  get size (): number { return this.byKey.size + (this.compact?.size ?? 0) }

  /** Every record; compact peers become records first (in creation order), as each is asked for. */
  values (): IterableIterator<PeerRecord> {
    if (this.compact !== undefined && this.compact.size > 0) for (const p of [...this.compact.peers()]) this.expand(p, true)
    return this.byKey.values()
  }

  get (id: PeerId): PeerRecord | undefined {
    const found = this.byKey.get(id)
    if (found !== undefined || this.compact === undefined || this.compact.size === 0) return found
    const i = this.scheme!.indexOf!(id)
    return i >= 0 && this.compact.has(i) ? this.expand(i, true) : undefined
  }

  byAddress (address: string): PeerRecord | undefined {
    const found = this.byAddr.get(address)
    if (found !== undefined || this.scheme === undefined) return found
    const id = this.scheme.idOf(address)
    const own = id === undefined ? undefined : this.get(id)
    return own !== undefined && own.addresses.includes(address) ? own : undefined
  }

  // ── compact peers ──────────────────────────────────────────────────────
  // With an AddressScheme that numbers peers (the simulation's), a peer the book is told of by id and
  // its own address only, and nothing else, is kept as a number (CompactPeers) instead of a record:
  // what such a record holds is the same for all of them but its creation order and first-seen time.
  // Whoever asks for it (`get`, `byAddress`, `values`, the dialer's walk) gets the record it would
  // have been, created then with the same creation order and time, and filed where it belongs.
  // The caller (PeerKnowledge) decides when a peer may be kept so; records never go back.

  /** The number of a peer this book may keep compactly at `address` (its own address, held by no record), or -1. */
  compactIndex (id: PeerId, address: string): number {
    const scheme = this.scheme
    if (this.compact === undefined || scheme!.idOf(address) !== id || this.byAddr.has(address) || this.byKey.has(id)) return -1
    return scheme!.indexOf!(id)
  }

  /** Whether this book may keep peers compactly (its `AddressScheme` numbers peers). */
  get keepsCompact (): boolean { return this.compact !== undefined }

  /** Whether the peer numbered `index` is a compact peer here. */
  isCompact (index: number): boolean { return this.compact?.has(index) === true }

  /** Keeps the peer numbered `index` compactly (new to this book: `compactIndex` said so, `isCompact` is false). */
  addCompact (index: number, now: number): void {
    this.compact!.add(index, reserveSeq(), now)
  }

  /** The first compact peer in creation order (-1: none) and its creation order. */
  firstCompact (): number { return this.compact === undefined ? -1 : this.compact.first() }
  firstCompactSeq (): number { return this.compact!.firstSeq() }

  /**
   * What the store writes for `id`: its record when it has one (as it is:
   * not expanded), else its row as a compact peer, else undefined.
   */
  storedRow (id: PeerId): PeerRecord | CompactRow | undefined {
    const found = this.byKey.get(id)
    if (found !== undefined || this.compact === undefined) return found
    const index = this.scheme!.indexOf!(id)
    const firstSeen = index < 0 ? undefined : this.compact.firstSeenOf(index)
    return firstSeen === undefined ? undefined : new CompactRow(index, firstSeen, this.scheme as RowNumbering)
  }

  /**
   * `storedRow` of the peer numbered `index` (Persistence, `touchCompact`), found by its number:
   * its row as a compact peer while it is one, else its record, else undefined.
   */
  storedRowAt (index: number): PeerRecord | CompactRow | undefined {
    const firstSeen = this.compact?.firstSeenOf(index)
    if (firstSeen !== undefined) return new CompactRow(index, firstSeen, this.scheme as RowNumbering)
    return this.byKey.get(this.scheme!.idAt!(index))
  }

  /**
   * The record of the compact peer numbered `index`, created now with its creation order and time.
   * `tell`: the `expanded` hook hears of it (false when the caller files it itself).
   */
  expand (index: number, tell: boolean): PeerRecord {
    const kept = this.compact!.take(index)!
    const id = this.scheme!.idAt!(index)
    const record = PeerRecord.withSeq(id, id, kept.firstSeen, kept.seq)
    record.journal = this.decisions
    record.hint = false
    record.addresses = this.scheme!.listAt!(index)
    this.byKey.set(id, record)
    this.hooks.created?.(record)
    if (tell) this.hooks.expanded?.(record)
    return record
  }

  /** An id or an address. */
  resolve (peerOrAddress: string): PeerRecord | undefined {
    return this.get(peerOrAddress) ?? this.byAddress(peerOrAddress)
  }

  /** The record of `id`, created when unknown (`hint`: from a hint only). `created` tells the caller. */
  getOrCreate (id: PeerId, now: number, hint = false): { record: PeerRecord; created: boolean } {
    const found = this.get(id)
    if (found !== undefined) return { record: found, created: false }
    return { record: this.create(id, now, hint), created: true }
  }

  /** A new record for `id`, which the caller has just looked up and not found (`get`). */
  create (id: PeerId, now: number, hint = false): PeerRecord {
    const record = new PeerRecord(id, id, now)
    record.journal = this.decisions
    record.hint = hint
    this.byKey.set(id, record)
    this.hooks.created?.(record)
    return record
  }

  /** A record for a peer known by address only. `hint`: known only from a hint (PeerInput.hint). */
  createForAddress (address: string, now: number, hint = false): PeerRecord {
    const record = new PeerRecord('@' + address, undefined, now)
    record.journal = this.decisions
    record.hint = hint
    this.byKey.set(record.key, record)
    this.addAddress(record, address)
    this.hooks.created?.(record)
    return record
  }

  /** Gives an address-only record its id. If a record with that id exists, the two are merged into it and it is returned. */
  assignId (record: PeerRecord, id: PeerId): PeerRecord {
    if (record.id === id) return record
    const existing = this.get(id)
    if (existing !== undefined && existing !== record) {
      // Its addresses move in one list (one at a time copied both lists per address).
      this.addAddresses(existing, record.addresses)
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

  /**
   * `addAddress` of each of `addresses`, in order, with `record`'s list built once (adding them one at
   * a time copies the list per address: a peer given 10,000 addresses took 0.4 s to restore). An
   * address is moved from another record as `addAddress` moves it; each loser is checked once, at the
   * end, for the last address it lost.
   */
  addAddresses (record: PeerRecord, addresses: readonly string[]): void {
    if (addresses.length < 2) {
      if (addresses.length === 1) this.addAddress(record, addresses[0])
      return
    }
    const scheme = this.scheme
    const added: string[] = []
    let lost: Map<PeerRecord, Set<string>> | undefined
    /** Addresses of `record`'s own (an AddressScheme's) added here: not in the index, not yet in the list. */
    let own: Set<string> | undefined
    for (const address of addresses) {
      const owner = this.byAddress(address)
      if (owner === record || own?.has(address) === true) continue
      if (owner !== undefined) {
        let set = (lost ??= new Map()).get(owner)
        if (set === undefined) lost.set(owner, set = new Set<string>())
        set.add(address)
      }
      if (scheme !== undefined && record.id !== undefined && scheme.idOf(address) === record.id) {
        this.byAddr.delete(address)
        ;(own ??= new Set()).add(address)
      } else this.byAddr.set(address, record)
      added.push(address)
    }
    if (added.length > 0) record.addresses = joined(record.addresses, added, scheme)
    if (lost !== undefined) for (const [owner, set] of lost) this.lose(owner, set)
  }

  /** `owner` lost `addresses` to another record (already filed there): `addAddress`'s rules for a loser. */
  private lose (owner: PeerRecord, addresses: ReadonlySet<string>): void {
    owner.addresses = owner.addresses.filter((a) => !addresses.has(a))
    if (owner.hinted !== undefined) for (const a of addresses) owner.hinted.delete(a)
    if (owner.addresses.length > 0 || owner.conn !== undefined) return
    if (owner.id === undefined) {
      this.byKey.delete(owner.key)
      owner.forgotten = true
    } else if (owner.hint) this.hooks.orphaned?.(owner)
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
  copied += list.length + 1
  if (list.length === 0) return [x]
  if (list.length === 1) return [list[0], x]
  return list.concat(x)
}

/** A new array of `list` and then `more` (the scheme's shared list when that is one address alone). */
function joined (list: readonly string[], more: readonly string[], scheme: AddressScheme | undefined): string[] {
  if (list.length === 0 && more.length === 1) return scheme !== undefined ? scheme.list(more[0]) : appended(list, more[0])
  copied += list.length + more.length
  return list.concat(more)
}

/** Address elements written into new address lists by the books of this process, ever (`addressesCopied`). */
let copied = 0

/**
 * How many address elements the peer books of this process have written into new address lists,
 * ever: an operation counter for tests that check restoring or merging many addresses stays linear
 * without timing it. Internal (not exported from the package).
 */
export function addressesCopied (): number {
  return copied
}
