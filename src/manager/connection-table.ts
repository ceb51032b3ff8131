import type { ConnEntry } from './peer-record.js'
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
 * - `find(conn)` answers for the very object `add` was given (a weak map from connection to entry,
 *   never deleted from: a dead entry answers nothing); for another object with the same `id`, by its
 *   `peer` (`byPeer`: the peer's accounted entry, if its connection has that id); an object without
 *   a `peer` (only an `id`) is looked for in the table, O(n).
 * - `values()` yields the live entries in opening order (the order rotation reads).
 */
export class ConnectionTable {
  /** The entries by slot, in opening order; `undefined` where one left. */
  private slots: Array<ConnEntry | undefined> = []
  private holes = 0
  /** Each added connection object's entry (live or dead): the lookup of the object itself. */
  private readonly byConn = new WeakMap<object, ConnEntry>()

  constructor (private readonly byPeer: (peer: string) => ConnEntry | undefined) {}

  /** Live connections. */
  get size (): number { return this.slots.length - this.holes }

  /** Accounts `entry` (its `slot` is set here). */
  add (entry: ConnEntry): void {
    if (this.holes > 32 && this.holes * 2 > this.slots.length) this.compact()
    entry.slot = this.slots.length
    this.slots.push(entry)
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

  /** The live entry of `conn` (or of the accounted connection with its id), if any. */
  find (conn: Connection): ConnEntry | undefined {
    const own = this.byConn.get(conn)
    if (own !== undefined && own.slot! >= 0) return own
    const { id, peer } = conn
    if (typeof peer === 'string') {
      const e = this.byPeer(peer)
      return e !== undefined && e.slot! >= 0 && e.conn.id === id ? e : undefined
    }
    for (const e of this.slots) if (e !== undefined && e.conn.id === id) return e
    return undefined
  }

  /** The live entries in opening order. */
  * values (): Generator<ConnEntry> {
    const { slots } = this
    for (let i = 0; i < slots.length; i++) {
      const e = slots[i]
      if (e !== undefined) yield e
    }
  }

  /** Squeezes the holes out, keeping the order. */
  private compact (): void {
    const { slots } = this
    let j = 0
    for (let i = 0; i < slots.length; i++) {
      const e = slots[i]
      if (e === undefined) continue
      e.slot = j
      slots[j++] = e
    }
    slots.length = j
    this.holes = 0
  }
}
