import type { ConnEntry, PeerRecord } from './peer-record.js'
import type { Connection } from './types.js'

/**
 * The accounted connections: a dense table of their entries in opening order, each entry knowing
 * its slot, so that a connection leaves with one store (its slot emptied) instead of a hash-table
 * deletion by id — a trim of 200 of 10,000 closed 200 connections, and each deletion from a map
 * keyed by id read the id's string and two lines of the map, scattered over the heap.
 *
 * Rules:
 * - `add` appends; `remove` empties the entry's slot and sets its `slot` to -1 (the entry is dead).
 *   The holes are squeezed out by the next `add` once they are more than half the table (the
 *   survivors keep their order; each moved entry's `slot` is rewritten): O(1) amortised per removal.
 * - The squeeze keeps the array's room (the slots past the table's `end` stay, emptied): a churn of
 *   connections at a steady count refills the same array instead of growing a new one after each
 *   squeeze — at 10,000 connections the array is past the size of a regular heap object, and each
 *   regrowth was a fresh large-object allocation and a copy. The room is given back only when the
 *   table uses less than a quarter of it.
 * - `find(conn)` answers for the very object `add` was given (a weak map from connection to entry,
 *   never deleted from: a dead entry answers nothing); for another object with the same `id`, by its
 *   `peer` (`byPeer`: the peer's accounted entry, if its connection has that id); an object without
 *   a `peer` (only an `id`) is looked for in the table, O(n).
 * - `values()` yields the live entries in opening order (the order rotation reads).
 */
export class ConnectionTable {
  /** The entries by slot, in opening order; `undefined` where one left, and from `end` on (room). */
  private readonly slots: Array<ConnEntry | undefined> = []
  /** The slots in use, live or holes: the next `add` takes slot `end`. */
  private end = 0
  private holes = 0
  /** Each added connection object's entry (live or dead): the lookup of the object itself. */
  private readonly byConn = new WeakMap<object, ConnEntry>()

  constructor (private readonly byPeer: (peer: string) => ConnEntry | undefined) {}

  /** Live connections. */
  get size (): number { return this.end - this.holes }

  /** Accounts `entry` (its `slot` is set here). */
  add (entry: ConnEntry): void {
    if (this.holes > 32 && this.holes * 2 > this.end) this.compact()
    const slot = this.end++
    entry.slot = slot
    if (slot < this.slots.length) this.slots[slot] = entry
    else this.slots.push(entry)
    this.byConn.set(entry.conn, entry)
  }

  /** Takes `entry` out (nothing when it is out already). */
  remove (entry: ConnEntry): void {
    const slot = entry.slot ?? -1
    if (slot < 0 || this.slots[slot] !== entry) return
    this.slots[slot] = undefined
    entry.slot = -1
    this.holes++
  }

  /** What `readAhead()` read, kept so that its reads are not optimised away. */
  readAheadSum = 0

  /** Reads the entry's slot in the table (what `remove` reads), for a read-ahead: 1 while it is there. */
  private near (entry: ConnEntry): number {
    return this.slots[entry.slot!] === entry ? 1 : 0
  }

  /**
   * Reads what closing each of `records` reads first (`Connections.closeTrimmed`) — its connection
   * entry and the entry's place in this table, the connection, its address list and id (the dial
   * index's questions), the record's flags (on its second cache line) and its tag value (a number
   * boxed apart: the decision copies it) — in a loop of independent loads. Those objects are scattered over the heap and seldom
   * in the cache; the processor overlaps the misses of a loop this small across many peers, where the
   * close of one peer, with its stores and calls, leaves it to wait for each of its own in turn.
   * Measured on a trim of 200 of 10,100: the closes took ~20 % less time with the entry, connection
   * and addresses read ahead, and the whole trim ~10 % less again with the rest.
   */
  readAhead (records: readonly PeerRecord[]): void {
    let sum = 0
    for (let i = 0; i < records.length; i++) {
      const r = records[i]
      const entry = r.conn
      if (entry === undefined) continue
      sum += entry.slot! + entry.conn.direction.length + r.addresses.length + this.near(entry) +
        r.value + (r.idle ? 1 : 0) + (r.id?.length ?? 0)
    }
    this.readAheadSum = sum
  }

  /** The live entry of `conn` (or of the accounted connection with its id), if any. */
  find (conn: Connection): ConnEntry | undefined {
    const own = this.byConn.get(conn)
    if (own !== undefined && own.slot! >= 0) return own
    const { id, peer } = conn
    if (typeof peer === 'string') {
      const e = this.byPeer(peer)
      return e !== undefined && e.slot! >= 0 && e.conn.id === id ? e : undefined
    }
    const { slots, end } = this
    for (let i = 0; i < end; i++) {
      const e = slots[i]
      if (e !== undefined && e.conn.id === id) return e
    }
    return undefined
  }

  /** The live entries in opening order. */
  * values (): Generator<ConnEntry> {
    const { slots } = this
    // `end` read at each step, as `slots.length` was: an entry added while the caller iterates is yielded.
    for (let i = 0; i < this.end; i++) {
      const e = slots[i]
      if (e !== undefined) yield e
    }
  }

  /** Squeezes the holes out, keeping the order, and the room unless the table uses less than a quarter of it. */
  private compact (): void {
    const { slots, end } = this
    let j = 0
    for (let i = 0; i < end; i++) {
      const e = slots[i]
      if (e === undefined) continue
      e.slot = j
      slots[j++] = e
    }
    if (j * 4 < slots.length) slots.length = j * 2
    for (let i = j; i < end && i < slots.length; i++) slots[i] = undefined
    this.end = j
    this.holes = 0
  }
}
