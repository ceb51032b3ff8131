import { PeerwardenError } from '../errors.js'
import type { AccessEntry, AccessList } from './access-list.js'
import type { ConnEntry } from './peer-record.js'
import type { PeerRecord } from './peer-record.js'
import type { StoredPeer } from './types.js'
import * as check from './validate.js'

/** What the run-time allow list needs from the manager. */
export interface AllowControlHost {
  readonly allowList: AccessList
  /** The accounted connections. */
  connections(): Iterable<ConnEntry>
  /** The record's `allowed` flag changed: re-filed where trimming looks (it may have become trimmable, or stopped being). */
  peerChanged(record: PeerRecord): void
  /** Writes a row that holds no peer with the next batch (absent without a store). */
  put?(row: StoredPeer): void
  /** Removes a row with the next batch (absent without a store). */
  remove?(key: string): void
  /** The transport's reading of a run-time entry (`ACCESS_ENTRY`), if it has one. */
  readonly entry?: AccessEntry
}

/** The key prefix of a stored allow entry's row; such a row has no `id` (a peer's row always has one, or an '@' key). */
export const ALLOW_ROW = '!allow:'

/**
 * The allow list at run time: `allow(entry)`, `unallow(entry)` and `isAllowed` of the manager, the
 * counterpart of the deny list's (deny-control.ts).
 *
 * Rules:
 * - `allow(entry)` takes what the `allow` option takes (a peer id, an IPv4/IPv6 address, a CIDR, an IP
 *   multiaddr): later connections it matches are never refused for the bound nor trimmed, and every
 *   accounted connection it matches (by peer id, or by the IP of its remote address) stops being
 *   trimmable at once. The deny list still wins: a peer both allowed and denied is refused.
 * - `unallow(entry)` lifts an entry, given at run time or in the option, in any spelling of the range;
 *   true when it was there. The connections it matched become trimmable again (a background trim brings
 *   a count above highWater back down, as for any connection that becomes trimmable).
 * - With a store, an entry added at run time persists as a row keyed `'!allow:' + entry` with no `id`
 *   (beside the peers' rows and the deny rows), read back at creation; `unallow` removes it. Entries
 *   of the `allow` option are the option's: not stored.
 */
export class AllowControl {
  constructor (private readonly host: AllowControlHost) {}

  /** See the rules; false when the entry was listed already. */
  allow (entry: string, field = 'entry'): boolean {
    check.nonEmptyString(field, entry)
    entry = this.host.entry?.(entry, field) ?? entry
    const added = this.host.allowList.add(entry, field)
    if (added) this.host.put?.(allowRow(entry))
    this.refresh()
    return added
  }

  unallow (entry: string, field = 'entry'): boolean {
    check.nonEmptyString(field, entry)
    entry = this.host.entry?.(entry, field) ?? entry
    entry = this.host.entry?.(entry, field) ?? entry
    const removed = this.host.allowList.remove(entry, field)
    if (removed) this.host.remove?.(ALLOW_ROW + entry)
    this.refresh()
    return removed
  }

  /** The allow rows among the stored ones, listed again (no row written); returns the other rows. */
  restore (stored: readonly StoredPeer[]): StoredPeer[] {
    const rest: StoredPeer[] = []
    for (const p of stored) {
      if (!isAllowRow(p)) { rest.push(p); continue }
      const entry = p.key.slice(ALLOW_ROW.length)
      try {
        if (entry === '') throw PeerwardenError.invalid('an empty allow entry')
        this.host.allowList.add(entry, 'stored allow entry')
      } catch {
        continue // a damaged row: the entry is lost, the others hold
      }
    }
    this.refresh()
    return rest
  }

  /** Every connected peer's `allowed` flag as the list reads it now; a peer whose flag moved is re-filed. */
  private refresh (): void {
    const { allowList } = this.host
    for (const e of [...this.host.connections()]) {
      const { record, conn } = e
      if (record.conn !== e) continue // a duplicate about to go: the record's own connection decides
      const allowed = allowList.matches(conn.peer, conn.address)
      if (allowed === record.allowed) continue
      record.allowed = allowed
      this.host.peerChanged(record)
    }
  }
}

function isAllowRow (p: StoredPeer): boolean {
  return typeof p?.key === 'string' && p.key.startsWith(ALLOW_ROW) && (p.id === undefined || p.id === null)
}

/** The row of an allow entry: a StoredPeer in shape (every store takes it), with no id and no address. */
function allowRow (entry: string): StoredPeer {
  return { key: ALLOW_ROW + entry, addresses: [], priority: 'medium', topics: [], longTerm: false, permanent: false, bootstrap: false, tags: {}, successes: 0, failures: 0 }
}
