import type { StoredPeer } from './store-types.js'

/** How a book numbers the peers it keeps compactly (its `AddressScheme`'s `idAt` and `listAt`). */
export interface RowNumbering {
  idAt(index: number): string
  listAt(index: number): string[]
}

/**
 * The row of a peer a book keeps compactly (`touchCompact`): its number in the book's numbering,
 * and its first-seen time; its id (the key) and its own address are read from the numbering when
 * asked for; everything else is a new peer's default. A large simulation writes hundreds of
 * thousands of them a virtual second: a store with `SAVE_ROWS` whose own numbering is the same
 * (`KeyIndex.rows`) files them by number, without reading a string; any other store is given the
 * `StoredPeer` it stands for.
 */
export class CompactRow {
  constructor (readonly index: number, readonly firstSeen: number, readonly numbering: RowNumbering) {}

  /** The peer's id, its key in the store. */
  get key (): string { return this.numbering.idAt(this.index) }

  /** The peer's own address. */
  get address (): string { return this.numbering.listAt(this.index)[0] }

  /** The `StoredPeer` this row stands for. */
  stored (): StoredPeer {
    return {
      key: this.key, id: this.key, addresses: [this.address], priority: 'medium', topics: [], longTerm: false, permanent: false, bootstrap: false,
      tags: {}, lastConnected: undefined, successes: 0, failures: 0, nextDialAt: undefined, firstSeen: this.firstSeen
    }
  }
}

/**
 * The key of a store's method that saves `CompactRow`s beside `StoredPeer`s, in order (internal: the
 * simulation's store has it; no public store needs it).
 */
export const SAVE_ROWS = Symbol('peerwarden.saveRows')

/** A store that takes `CompactRow`s (`SAVE_ROWS`). */
export interface RowStore {
  [SAVE_ROWS](rows: ReadonlyArray<StoredPeer | CompactRow>): void
}
