import type { StoredPeer } from './store-types.js'

/**
 * The row of a peer a book keeps compactly (`touchKey`): its id (the key), its own address and its
 * first-seen time; everything else is a new peer's default. Three fields where a `StoredPeer` has
 * fourteen: a large simulation writes hundreds of thousands of them a virtual second. A store with
 * `SAVE_ROWS` takes it as it is; any other is given the `StoredPeer` it stands for.
 */
export class CompactRow {
  constructor (readonly key: string, readonly address: string, readonly firstSeen: number) {}

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
