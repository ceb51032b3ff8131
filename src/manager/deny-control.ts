import { isIpOrRange, type AccessList } from './access-list.js'
import { EntryRows, type EntryRowsHost } from './access-rows.js'
import type { ConnEntry } from './peer-record.js'
import type { CloseReason, PeerId, Priority, StoredPeer } from './types.js'

/** What the run-time deny list needs from the manager. */
export interface DenyControlHost extends EntryRowsHost {
  readonly denyList: AccessList
  /** The accounted connections (closed while walked: the caller copies). */
  connections(): Iterable<ConnEntry>
  close(entry: ConnEntry, reason: CloseReason, why: string): void
  /** The deny list changed: peers it now denies are no longer dialled. */
  changed(): void
}

/**
 * The deny list at run time: `deny(entry)` and `undeny(entry)` of the manager, and a ban given by a
 * bare IP or CIDR (`setPriority`).
 *
 * Rules:
 * - `deny(entry)` takes what the `deny` option takes (a peer id, an IPv4/IPv6 address, a CIDR): every
 *   accounted connection it matches (by peer id, or by the IP of its remote address) closes
 *   `'denied'` at once; later connections it matches are refused `'denied'`; peers it denies (by id,
 *   or every address of theirs inside it) are never dialled, and a dial in flight brings a connection
 *   that is refused (`connectNow` rejects `ERR_DENIED`).
 * - `undeny(entry)` lifts an entry, given at run time or in the option, in any spelling of the range;
 *   true when it was there.
 * - With a store, an entry added at run time persists as a row keyed `'!deny:' + entry` with no `id`
 *   (beside the peers' rows), read back at creation like a ban; `undeny` removes it. Entries of the
 *   `deny` option are the option's: not stored.
 * - `setPriority` of a bare IP or a CIDR (which no connection's address equals: they carry a port or
 *   a scheme) means that IP or range: `'banned'` denies it, any other priority lifts that entry.
 */
export class DenyControl {
  private readonly rows: EntryRows

  constructor (private readonly host: DenyControlHost) {
    this.rows = new EntryRows(host.denyList, 'deny', 'banned', host)
  }

  /** See the rules; false when the entry was listed already (live connections it matches are closed anyway). */
  deny (entry: string, field = 'entry', why = 'denied at run time'): boolean {
    const added = this.rows.add(entry, field)
    const { denyList } = this.host
    const matched = [...this.host.connections()].filter((e) => denyList.matches(e.conn.peer, e.conn.address))
    for (const e of matched) this.host.close(e, 'denied', `${why}: ${added.entry}`)
    this.host.changed()
    return added.changed
  }

  /** See the rules; false when the entry was not listed. */
  undeny (entry: string, field = 'entry'): boolean {
    const removed = this.rows.remove(entry, field)
    this.host.changed()
    return removed
  }

  /**
   * The updates of a `setPriority` that name a bare IP or CIDR, applied to the deny list (after the
   * caller validated them); returns the others, for the peers.
   */
  takeRanges (updates: Array<{ peer: PeerId | string; priority: Priority }>): Array<{ peer: PeerId | string; priority: Priority }> {
    const rest: Array<{ peer: PeerId | string; priority: Priority }> = []
    updates.forEach((u, i) => {
      if (!isIpOrRange(u.peer)) { rest.push(u); return }
      if (u.priority === 'banned') this.deny(u.peer, `updates[${i}].peer`, 'banned by IP or range')
      else this.undeny(u.peer, `updates[${i}].peer`)
    })
    return rest
  }

  /** The deny rows among the stored ones, listed again (no row written); returns the peers' rows. */
  restore (stored: readonly StoredPeer[]): StoredPeer[] {
    const peers = this.rows.restore(stored)
    const { denyList } = this.host
    for (const e of [...this.host.connections()]) {
      if (denyList.matches(e.conn.peer, e.conn.address)) this.host.close(e, 'denied', 'on the deny list restored from the store')
    }
    this.host.changed()
    return peers
  }
}
