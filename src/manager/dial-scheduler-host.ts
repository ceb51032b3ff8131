import type { ErrorCode } from '../errors.js'
import type { PeerRecord } from './peer-record.js'
import type { Clock, Connection, DecisionAction, DialFn, PeerId } from './types.js'

/** What the dialer needs from the manager. */
export interface DialSchedulerHost {
  readonly clock: Clock
  readonly random: () => number
  readonly dial: DialFn
  readonly localPeer: PeerId | undefined
  limits(): { lowWater: number; highWater: number; maxParallelDials: number; dialTimeout: number; stalledDialAfter: number; maxPeers: number }
  records(): Iterable<PeerRecord>
  connections(): number
  /** Connections to bootstrap peers that do not count toward lowWater (the outbound ones are released once others reach it). */
  releasableBootstraps(): number
  /** The live connection to a peer, if any. */
  connectionTo(peer: PeerId): Connection | undefined
  /** Denied by the deny list (by id or by every address). */
  denied(record: PeerRecord): boolean
  /** Serves a topic whose quota's `min` is not met (counting the `planned` dials per topic). */
  needed(record: PeerRecord, planned?: ReadonlyMap<string, number>): boolean
  /** A dial of a peer with these topics starts (+1) or ends (-1): they count it as pending. */
  dialing(topics: readonly string[], delta: 1 | -1): void
  /** Any topic below its quota's `min`? (Skips work when none is.) */
  topicsShort(): boolean
  /** Reports our outbound connection to the manager; false = refused. `forced` bypasses the watermarks. */
  accept(conn: Connection, record: PeerRecord, forced: boolean): boolean
  /** Why `accept` refused `conn`, as the code the dial rejects with: ERR_BANNED, ERR_DENIED, ERR_CLOSED, else ERR_DIAL_FAILED. */
  refusalCode(conn: Connection): ErrorCode
  dialStarted(record: PeerRecord, address: string): void
  /** One address failed (events and errors()). */
  addressFailed(record: PeerRecord, address: string, error: Error): void
  decide(record: PeerRecord, action: DecisionAction, reason: string): void
  /** `decide` with a coded reason (`reasonCode`, decision-log.ts): the numbers are written out only when `explain()` reads it. */
  decideCode(record: PeerRecord, action: DecisionAction, code: number, a: number, b: number): void
  /** A dial of the record ended (its failures may have changed). */
  dialEnded(record: PeerRecord): void
  /**
   * The book's compact peers (peer-book.ts), when it keeps some: dialable peers with no record,
   * which the walk of each pass takes in creation order beside the index, each made a record as it
   * comes up.
   */
  readonly compact?: CompactCandidates
}

/** The compact peers of the book, as the dialer walks them (see `DialSchedulerHost.compact`). */
export interface CompactCandidates {
  /** The first in creation order, -1 when none. */
  first(): number
  /** Its creation order. */
  firstSeq(): number
  /** Its record, created now (not filed in the dial index: the caller files it). */
  expand(index: number): PeerRecord
}
