import { PLAIN_CELLS, type CellAllocator } from '../manager/cells.js'
import { CompactRow, SAVE_ROWS, type RowNumbering, type RowStore } from '../manager/compact-row.js'
import type { PeerStore, Priority, StoredPeer } from '../manager/types.js'

/**
 * Numbers for the keys a `CompactStore` expects most (the simulation's node ids): `of(key)` is a
 * non-negative integer, or -1 for a key it does not know; `key(of(k)) === k`.
 */
export interface KeyIndex {
  of(key: string): number
  key(index: number): string
  /**
   * The numbering of the peer books whose compact rows (`CompactRow`) this store is given, when it
   * is this index's own (the simulation's): such a row is found by its number, and its address is
   * the peer's in-memory one ('mem://' + key), so that no string is read to file it.
   */
  readonly rows?: RowNumbering
}

/**
 * The simulation's peer store: a `memoryStore()` laid out in columns, so that 100,000 nodes × a few
 * hundred known peers fit in memory. It outlives the managers (restarts); `load()` rebuilds the rows.
 *
 * Rules:
 * - One slot per key, slots in the order keys were first saved (a deleted key's slot is not used
 *   again): `load()` returns the rows in that order, the order a `Map` keeps (first saved first; a
 *   deleted key saved again comes last), as the store it replaces did — the restored peers are
 *   created in that order, and their creation order is the dial order's last tie-break.
 * - A key the `KeyIndex` knows is found through a table of integers (two `Int32Array` cells); any
 *   other key through a `Map`.
 * - A row of a peer nobody connected to, dialled or flagged — its id, its `mem://` address, no
 *   history — costs its first-seen time (a `Float64Array` cell); the others also hold five numbers
 *   (flags and priority, last connected, successes, failures, next dial; an absent time is NaN).
 *   What else differs from the usual (an id other than the key, addresses other than the in-memory
 *   one, topics, tags) is a JSON string beside, only for the rows that have it.
 */
export class CompactStore implements PeerStore, RowStore {
  /** Keys the index does not know: their slots. */
  private otherSlots: Map<string, number> | undefined = undefined
  /** Open addressing on the index numbers: [index + 1 (0 empty, -1 deleted), slot] per cell, at most three quarters full. */
  private table = NO_INTS
  private tableUsed = 0
  /** Per slot: the key's index number, or OTHER (its key in `otherKeys`), or DEAD. */
  private keys = NO_INTS
  private otherKeys: Map<number, string> | undefined = undefined
  /** Per slot: first seen (NaN: absent). */
  private first = NO_NUMBERS
  /** Per slot: its row of five numbers in `rows`, or -1 for a pristine row. */
  private full = NO_INTS
  private rows = NO_NUMBERS
  private rowCount = 0
  private readonly freeRows: number[] = []
  /** The three maps are made on first use: a simulation's keys are all numbered, and most rows are the usual. */
  private extra: Map<number, string> | undefined = undefined
  private next = 0

  /** `cells`: where its arrays come from (the simulation's slabs, shared by its stores); default: each its own buffer. */
  constructor (private readonly index?: KeyIndex, private readonly cells: CellAllocator = PLAIN_CELLS) {}

  async load (): Promise<StoredPeer[]> {
    const out: StoredPeer[] = []
    for (let slot = 0; slot < this.next; slot++) {
      const k = this.keys[slot]
      if (k === DEAD) continue
      out.push(this.read(k === OTHER ? this.otherKeys!.get(slot)! : this.index!.key(k), slot))
    }
    return out
  }

  save (peers: StoredPeer[]): void {
    for (const p of peers) {
      let slot = this.find(p.key)
      if (slot === -1) slot = this.insert(p.key)
      this.write(slot, p)
    }
  }

  /** `save`, where a row may also be a `CompactRow` (the manager's, for a peer its book keeps compactly). */
  [SAVE_ROWS] (rows: ReadonlyArray<StoredPeer | CompactRow>): void {
    const numbering = this.index?.rows
    for (const p of rows) {
      if (p instanceof CompactRow && numbering !== undefined && p.numbering === numbering) {
        let slot = this.slotOf(p.index)
        if (slot === -1) slot = this.insertNumbered(p.index)
        this.writeOwn(slot, p.firstSeen, undefined)
        continue
      }
      const key = p.key
      let slot = this.find(key)
      if (slot === -1) slot = this.insert(key)
      if (p instanceof CompactRow) this.writeOwn(slot, p.firstSeen, isMemoryAddress(p.address, key) ? undefined : p.address)
      else this.write(slot, p)
    }
  }

  delete (keys: string[]): void {
    for (const key of keys) {
      const i = this.index?.of(key) ?? -1
      let slot: number
      if (i >= 0) {
        if (this.tableUsed === 0) continue
        const cell = this.cell(i)
        if (this.table[cell] !== i + 1) continue
        slot = this.table[cell + 1]
        this.table[cell] = -1
      } else {
        const s = this.otherSlots?.get(key)
        if (s === undefined) continue
        slot = s
        this.otherSlots!.delete(key)
        this.otherKeys!.delete(slot)
      }
      this.keys[slot] = DEAD
      this.extra?.delete(slot)
      if (this.full[slot] !== -1) this.freeRows.push(this.full[slot])
    }
  }

  async flush (): Promise<void> {}
  async close (): Promise<void> {}

  /** The slot of `key`, or -1. */
  private find (key: string): number {
    const i = this.index?.of(key) ?? -1
    return i < 0 ? this.otherSlots?.get(key) ?? -1 : this.slotOf(i)
  }

  /** The slot of the key numbered `i` by the index, or -1. */
  private slotOf (i: number): number {
    if (this.tableUsed === 0) return -1
    const cell = this.cell(i)
    return this.table[cell] === i + 1 ? this.table[cell + 1] : -1
  }

  /** The table cell that holds `i`, or the empty cell where it would go. */
  private cell (i: number): number {
    const t = this.table
    const mask = (t.length >> 1) - 1
    let h = (Math.imul(i, 0x9e3779b1) >>> 0) & mask
    let deleted = -1
    for (;;) {
      const k = t[h * 2]
      if (k === i + 1) return h * 2
      if (k === 0) return deleted === -1 ? h * 2 : deleted
      if (k === -1 && deleted === -1) deleted = h * 2
      h = (h + 1) & mask
    }
  }

  private insert (key: string): number {
    const i = this.index?.of(key) ?? -1
    if (i >= 0) return this.insertNumbered(i)
    const slot = this.newSlot()
    ;(this.otherSlots ??= new Map()).set(key, slot)
    ;(this.otherKeys ??= new Map()).set(slot, key)
    this.keys[slot] = OTHER
    return slot
  }

  /** A slot for the key numbered `i` by the index, which has none. */
  private insertNumbered (i: number): number {
    const slot = this.newSlot()
    this.keys[slot] = i
    if (4 * (this.tableUsed + 1) > 3 * (this.table.length >> 1)) this.rehash()
    const cell = this.cell(i)
    if (this.table[cell] === 0) this.tableUsed++
    this.table[cell] = i + 1
    this.table[cell + 1] = slot
    return slot
  }

  private newSlot (): number {
    const slot = this.next++
    if (slot === this.keys.length) this.growSlots()
    this.full[slot] = -1
    return slot
  }

  /** A table without the deleted cells, at most half full (it grows past three quarters). */
  private rehash (): void {
    const old = this.table
    let live = 0
    for (let c = 0; c < old.length; c += 2) if (old[c] > 0) live++
    let cells = 64
    while (cells < 2 * (live + 1)) cells *= 2
    this.table = this.cells.int32(2 * cells)
    this.tableUsed = live
    for (let c = 0; c < old.length; c += 2) {
      if (old[c] <= 0) continue
      const to = this.cell(old[c] - 1)
      this.table[to] = old[c]
      this.table[to + 1] = old[c + 1]
    }
    this.cells.release(old)
  }

  private growSlots (): void {
    // From 64: a node of a large simulation saves a few hundred peers, and each growth is three
    // ArrayBuffers allocated (a few µs each, and their external memory counts toward a collection).
    const n = Math.max(64, this.keys.length * 2)
    const { cells } = this
    const keys = cells.int32(n); keys.set(this.keys); cells.release(this.keys); this.keys = keys
    const first = cells.float64(n); first.set(this.first); cells.release(this.first); this.first = first
    const full = cells.int32(n); full.set(this.full); cells.release(this.full); this.full = full
  }

  private write (slot: number, p: StoredPeer): void {
    const flags = (p.longTerm ? 1 : 0) | (p.permanent ? 2 : 0) | (p.bootstrap ? 4 : 0) | (PRIORITIES.indexOf(p.priority) << 3)
    this.first[slot] = p.firstSeen ?? NaN
    let row = this.full[slot]
    const pristine = flags === 0 && p.lastConnected === undefined && Object.is(p.successes, 0) && Object.is(p.failures, 0) && p.nextDialAt === undefined
    if (!pristine || row !== -1) {
      if (row === -1) row = this.full[slot] = this.newRow()
      const at = row * FULL
      const n = this.rows
      n[at] = flags
      n[at + 1] = p.lastConnected ?? NaN
      n[at + 2] = p.successes
      n[at + 3] = p.failures
      n[at + 4] = p.nextDialAt ?? NaN
    }
    const id = p.id !== p.key
    const addresses = !(p.addresses.length === 1 && p.id !== undefined && isMemoryAddress(p.addresses[0], p.id))
    const topics = p.topics.length > 0
    let tags = false
    for (const _ in p.tags) { tags = true; break }
    if (!id && !addresses && !topics && !tags) {
      // The usual row: nothing beside the numbers (and no object or string built to find it out).
      this.extra?.delete(slot)
      return
    }
    const more: Extra = {}
    if (id) more.i = p.id ?? null
    if (addresses) more.a = p.addresses
    if (topics) more.t = p.topics
    if (tags) more.g = p.tags
    ;(this.extra ??= new Map()).set(slot, JSON.stringify(more))
  }

  /**
   * What `write` does with the `StoredPeer` a `CompactRow` stands for: no history, no flags, the id
   * as key, one address — `address` when it is not the in-memory one of the key.
   */
  private writeOwn (slot: number, firstSeen: number, address: string | undefined): void {
    this.first[slot] = firstSeen
    const row = this.full[slot]
    if (row !== -1) {
      const at = row * FULL
      const n = this.rows
      n[at] = 0
      n[at + 1] = NaN
      n[at + 2] = 0
      n[at + 3] = 0
      n[at + 4] = NaN
    }
    if (address !== undefined) (this.extra ??= new Map()).set(slot, JSON.stringify({ a: [address] } satisfies Extra))
    else this.extra?.delete(slot)
  }

  private newRow (): number {
    const free = this.freeRows.pop()
    if (free !== undefined) return free
    const row = this.rowCount++
    if ((row + 1) * FULL > this.rows.length) {
      const grown = this.cells.float64(Math.max(FULL * 16, this.rows.length * 2))
      grown.set(this.rows)
      this.cells.release(this.rows)
      this.rows = grown
    }
    return row
  }

  private read (key: string, slot: number): StoredPeer {
    const row = this.full[slot]
    const n = this.rows
    const at = row * FULL
    const flags = row === -1 ? 0 : n[at]
    const raw = this.extra?.get(slot)
    const more = raw === undefined ? undefined : JSON.parse(raw) as Extra
    const id = more?.i === undefined ? key : more.i ?? undefined
    const p: StoredPeer = {
      key,
      addresses: more?.a ?? (id !== undefined ? [MEMORY + id] : []),
      priority: PRIORITIES[flags >> 3],
      topics: more?.t ?? [],
      longTerm: (flags & 1) !== 0,
      permanent: (flags & 2) !== 0,
      bootstrap: (flags & 4) !== 0,
      tags: more?.g ?? {},
      successes: row === -1 ? 0 : n[at + 2],
      failures: row === -1 ? 0 : n[at + 3]
    }
    if (id !== undefined) p.id = id
    if (row !== -1 && !Number.isNaN(n[at + 1])) p.lastConnected = n[at + 1]
    if (row !== -1 && !Number.isNaN(n[at + 4])) p.nextDialAt = n[at + 4]
    const first = this.first[slot]
    if (!Number.isNaN(first)) p.firstSeen = first
    return p
  }
}

/** What a row holds beyond the numbers, when it differs from the usual: id (null: none), addresses, topics, tags. */
interface Extra { i?: string | null; a?: string[]; t?: string[]; g?: Record<string, number> }

/** Whether `address` is 'mem://' + `id` (compared in place: no concatenated string). */
function isMemoryAddress (address: string, id: string): boolean {
  return address.length === MEMORY.length + id.length && address.startsWith(MEMORY) && address.endsWith(id)
}

/** A full row: flags and priority, last connected, successes, failures, next dial. */
const FULL = 5
/** `keys` of a slot whose key the index does not know, and of a deleted one. */
const OTHER = -1
const DEAD = -2
/** The arrays of a store that holds nothing yet (shared: a simulation builds its stores before any is written). */
const NO_INTS = new Int32Array(0)
const NO_NUMBERS = new Float64Array(0)
const PRIORITIES: readonly Priority[] = ['medium', 'low', 'high', 'banned']
/** The scheme of the in-memory network's addresses (`mem://<id>`). */
const MEMORY = 'mem://'
