import { PeerwardenError } from '../errors.js'
import type { AccessEntry, AccessList } from './access-list.js'
import type { Priority, StoredPeer } from './types.js'
import * as check from './validate.js'

/** Where a run-time access list keeps its entries: the store's batch, and the transport's reading of an entry. */
export interface EntryRowsHost {
  /** Writes a row that holds no peer with the next batch (absent without a store). */
  put?(row: StoredPeer): void
  /** Removes a row with the next batch (absent without a store). */
  remove?(key: string): void
  /** The transport's reading of a run-time entry (`ACCESS_ENTRY`), if it has one. */
  readonly entry?: AccessEntry
}

/**
 * The entries of one access list given at run time (the allow list's or the deny list's), kept in
 * the store as rows keyed `prefix + entry` with no `id` beside the peers' rows (every store takes a
 * StoredPeer in shape). Shared by allow-control.ts and deny-control.ts; what an entry does to the
 * connections is theirs.
 *
 * Rules:
 * - `add`/`remove` check the entry (a non-empty string, named by `field`), read it as the transport
 *   does (a multiserver address is its feed id under SSB…), change the list and write or remove the
 *   row; they return whether the list changed and the entry as read.
 * - `restore` lists the stored entries again (no row written) and returns the other rows; a damaged
 *   row is skipped (its entry is lost, the others hold).
 */
export class EntryRows {
  constructor (
    private readonly list: AccessList,
    /** Which list: its rows are keyed '!allow:' or '!deny:'. */
    private readonly what: 'allow' | 'deny',
    /** The priority a row carries (for a store that reads it as a peer's). */
    private readonly priority: Priority,
    private readonly host: EntryRowsHost
  ) {
    this.prefix = `!${what}:`
  }

  /** The key prefix of a row. */
  readonly prefix: string

  add (entry: string, field: string): { changed: boolean; entry: string } {
    check.nonEmptyString(field, entry)
    const read = this.host.entry?.(entry, field) ?? entry
    const changed = this.list.add(read, field)
    if (changed) this.host.put?.(this.row(read))
    return { changed, entry: read }
  }

  remove (entry: string, field: string): boolean {
    check.nonEmptyString(field, entry)
    const read = this.host.entry?.(entry, field) ?? entry
    const changed = this.list.remove(read, field)
    if (changed) this.host.remove?.(this.prefix + read)
    return changed
  }

  restore (stored: readonly StoredPeer[]): StoredPeer[] {
    const rest: StoredPeer[] = []
    for (const p of stored) {
      if (!this.isRow(p)) { rest.push(p); continue }
      const entry = p.key.slice(this.prefix.length)
      try {
        if (entry === '') throw PeerwardenError.invalid(`an empty ${this.what} entry`)
        this.list.add(entry, `stored ${this.what} entry`)
      } catch {
        continue // a damaged row: the entry is lost, the others hold
      }
    }
    return rest
  }

  private isRow (p: StoredPeer): boolean {
    return typeof p?.key === 'string' && p.key.startsWith(this.prefix) && (p.id === undefined || p.id === null)
  }

  /** The row of an entry: a StoredPeer in shape, with no id and no address. */
  private row (entry: string): StoredPeer {
    return { key: this.prefix + entry, addresses: [], priority: this.priority, topics: [], longTerm: false, permanent: false, bootstrap: false, tags: {}, successes: 0, failures: 0 }
  }
}
