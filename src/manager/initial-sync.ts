import { compareCandidates } from './dial-order.js'
import type { DialScheduler } from './dial-scheduler.js'
import type { ConnEntry, PeerRecord } from './peer-record.js'
import type { PeerId } from './types.js'
import * as check from './validate.js'

/** What initial-sync mode needs from the manager. */
export interface InitialSyncHost {
  assertOpen(): void
  /** The peer's record (by id or address), made if unknown. */
  resolveOrCreate(peer: PeerId | string): PeerRecord
  connections(): Iterable<ConnEntry>
  /** Closes a connection with reason 'initial-sync'. */
  close(entry: ConnEntry, why: string): void
  readonly dialer: Pick<DialScheduler, 'startSync' | 'stopSync'>
}

/**
 * Initial-sync mode (the sbot scheduler's): while a node catches up, it talks to one peer only.
 *
 * Rules:
 * - `start(peer?)`: every outbound connection but one is closed ('initial-sync'), permanent ones
 *   aside, and only that one peer is dialled until `stop()`. The one kept is `peer` if given, else the
 *   best connected outbound peer by the dial order, else the dialer's best candidate. Inbound
 *   connections stay accounted.
 * - `stop()` returns to normal dialing; it is a no-op when the mode is off.
 */
export class InitialSync {
  private on = false

  constructor (private readonly host: InitialSyncHost) {}

  get active (): boolean { return this.on }

  start (peer?: PeerId | string): void {
    const { host } = this
    host.assertOpen()
    if (peer !== undefined) check.nonEmptyString('peer', peer)
    const given = peer === undefined ? undefined : host.resolveOrCreate(peer)
    const needed = (): boolean => false
    let keep = given
    if (keep === undefined) {
      for (const { record, conn } of host.connections()) {
        if (conn.direction !== 'outbound' || record.permanent) continue
        if (keep === undefined || compareCandidates(record, keep, needed) < 0) keep = record
      }
    }
    this.on = true
    for (const entry of [...host.connections()]) {
      if (entry.conn.direction === 'outbound' && entry.record !== keep && !entry.record.permanent) {
        host.close(entry, `initial sync keeps one outbound connection (${keep?.id ?? keep?.key ?? 'to be chosen'})`)
      }
    }
    host.dialer.startSync(given, keep)
  }

  stop (): void {
    if (!this.on) return
    this.on = false
    this.host.dialer.stopSync()
  }
}
