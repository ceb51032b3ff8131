import type { AccessList } from './access-list.js'
import { EntryRows, type EntryRowsHost } from './access-rows.js'
import type { ConnEntry } from './peer-record.js'
import type { PeerRecord } from './peer-record.js'
import type { StoredPeer } from './types.js'

/** What the run-time allow list needs from the manager. */
export interface AllowControlHost extends EntryRowsHost {
  readonly allowList: AccessList
  /** The accounted connections. */
  connections(): Iterable<ConnEntry>
  /** The record's `allowed` flag changed: re-filed where trimming looks (it may have become trimmable, or stopped being). */
  peerChanged(record: PeerRecord): void
}

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
  private readonly rows: EntryRows

  constructor (private readonly host: AllowControlHost) {
    this.rows = new EntryRows(host.allowList, 'allow', 'medium', host)
  }

  /** See the rules; false when the entry was listed already. */
  allow (entry: string, field = 'entry'): boolean {
    const { changed } = this.rows.add(entry, field)
    this.refresh()
    return changed
  }

  /** See the rules; false when the entry was not listed. */
  unallow (entry: string, field = 'entry'): boolean {
    const removed = this.rows.remove(entry, field)
    this.refresh()
    return removed
  }

  /** The allow rows among the stored ones, listed again (no row written); returns the other rows. */
  restore (stored: readonly StoredPeer[]): StoredPeer[] {
    const rest = this.rows.restore(stored)
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
