import { Alarm } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import { AddressBackoff } from './address-backoff.js'
import { DEFAULT_BACKOFF, nextDelay, type BackoffPolicy } from './backoff.js'
import { withCompact } from './compact-walk.js'
import { reasonCode } from './decision-log.js'
import { DialIndex } from './dial-index.js'
import { dialAddresses, type DialContext } from './dial-addresses.js'
import type { DialSchedulerHost } from './dial-scheduler-host.js'
import { chooseDials, type DialPick, type SyncState } from './dial-selection.js'
import { PeerRecord } from './peer-record.js'
import { RecordDial, addressStats } from './record-dial.js'
import type { Connection } from './types.js'

export type { CompactCandidates, DialSchedulerHost } from './dial-scheduler-host.js'
export { orderAddresses } from './record-dial.js'

/**
 * Proactive dialing (the sbot scheduler and the js-libp2p "active connection management" proposal).
 *
 * Rules:
 * - Nothing happens until `start()`; `stop()` aborts every dial in flight.
 * - Each pass dials the best candidates (`compareCandidates`) that are not connected, not being
 *   dialled, not banned or denied, have an address, and whose backoff (`nextDialAt`) has passed:
 *   regular peers until the manager holds `lowWater` connections; peers that serve a topic below its
 *   quota while under `highWater`; long-term peers whenever they are lost; permanent peers forever,
 *   outside the watermarks. Never more than `maxParallelDials` at once. A dial in flight for
 *   `stalledDialAfter` no longer counts toward lowWater (the next candidate is dialled meanwhile).
 * - A peer's addresses are tried one by one, the one that last worked first and the ones that failed
 *   last, each with `dialTimeout`.
 * - A failed attempt backs off per peer (`nextDelay`: exponential, jittered, proven peers sooner);
 *   one shared timer wakes the dialer at the earliest `nextDialAt`. A success resets the failures.
 * - An address learnt from a hint also backs off on its own (`AddressBackoff`), whichever peer
 *   claims it: a peer whose every address waits so waits too; connectNow ignores those waits.
 * - Initial sync: only the sync peer (given, or the best candidate) is dialled.
 * - Passes are coalesced: `requestPass()` from any number of events runs one pass on the next microtask.
 */
export class DialScheduler {
  private running = false
  private passQueued = false
  /** The one shared timer: wakes the scheduler for the earliest `nextDialAt` (or bootstrap wake-up). */
  private readonly alarm: Alarm
  private inFlight = 0
  /** Dials in flight to peers that are not bootstrap peers. */
  private inFlightOthers = 0
  /** Last time the network got us somewhere: a connection, or a dial of a non-bootstrap peer. */
  private lastProgress = -Infinity
  private bootstrapWake = Infinity
  private readonly controllers = new Set<RecordDial>()
  /** Initial sync: the peer we were given (if any) and the one we hold or dial now. */
  private sync: SyncState | undefined

  private readonly index: DialIndex
  /** Waits of addresses learnt from hints, shared by every peer that claims them. */
  readonly addressWaits: AddressBackoff
  private readonly policy: Readonly<BackoffPolicy> = DEFAULT_BACKOFF

  /** The stand-in record of a compact peer in the walk's comparisons (`withCompact`). */
  private probe: PeerRecord | undefined = undefined

  /** What `dialAddresses` needs, one for every dial of this scheduler (the dial passes itself back). */
  private readonly dialContext: DialContext<RecordDial>

  constructor (private readonly host: DialSchedulerHost) {
    this.dialContext = {
      get dial () { return host.dial },
      clock: host.clock,
      get timeout () { return host.limits().dialTimeout },
      onStart: (address, dial) => { host.dialStarted(dial.record, address) },
      onFailure: (address, error, dial) => { this.addressFailed(dial.record, address, error) }
    }
    this.index = new DialIndex((r) => this.dialable(r))
    this.alarm = new Alarm(host.clock, () => { this.pass() })
    this.addressWaits = new AddressBackoff(() => host.limits().maxPeers, host.random, this.policy)
  }

  /** Could this peer be dialled at all (backoff aside)? */
  private dialable (r: PeerRecord): boolean {
    return r.conn === undefined && !r.dialing && !r.forgotten && r.priority !== 'banned' && r.addresses.length > 0 &&
      (r.id === undefined || r.id !== this.host.localPeer) && !this.host.denied(r)
  }

  /** May the peer be dialled now: dialable, its backoff over, some address not waiting (exploration asks). */
  dialableNow (r: PeerRecord, now: number): boolean {
    return this.dialable(r) && (Number.isNaN(r.nextDialAt) || r.nextDialAt <= now) && this.addressWaits.waitOf(r, now) === undefined
  }

  /** Initial sync is on. */
  get syncing (): boolean { return this.sync !== undefined }

  /** A connection opened, or a peer was dialled: the network is getting us somewhere (bootstrap peers wait while it does). */
  noteProgress (): void {
    this.lastProgress = this.host.clock.now()
  }

  /** The verb: anything about the peer changed that the dial order or rules read; re-files it in the dial index. */
  peerChanged (record: PeerRecord): void {
    this.index.update(record, this.host.clock.now())
  }

  /** Only the peer's tag value moved: re-sorts it if it is a ready candidate (membership cannot change). */
  valueChanged (record: PeerRecord): void {
    if (record.candIndex !== -1) this.index.update(record, this.host.clock.now())
  }

  /** The peer is forgotten. */
  remove (record: PeerRecord): void {
    this.index.remove(record)
  }

  get dialing (): number { return this.inFlight }

  /** Permanent peers not protected by any tag (stats().protected counts them with the protected ones). */
  permanentUnprotected (): number {
    let n = 0
    for (const r of this.index.sticky) if (r.permanent && !r.isProtected) n++
    return n
  }

  start (): void {
    this.running = true
    this.requestPass()
  }

  stop (): void {
    this.running = false
    this.alarm.cancel()
    for (const c of this.controllers) c.abort(new PeerwardenError('ERR_NOT_RUNNING', 'the manager stopped'))
  }

  /**
   * Enters initial-sync mode: only `given` (or, when undefined, the best candidate) is dialled.
   * `current` is a peer already connected that serves as the sync peer.
   */
  startSync (given: PeerRecord | undefined, current: PeerRecord | undefined): void {
    this.sync = { given, current: given ?? current }
    this.requestPass()
  }

  stopSync (): void {
    this.sync = undefined
    this.requestPass()
  }

  /** The peer initial sync holds or dials, once chosen. */
  get syncPeer (): PeerRecord | undefined { return this.sync?.current }

  /** Asks for one dial pass on the next microtask, however many ask (coalesced). */
  requestPass (): void {
    if (!this.running || this.passQueued) return
    this.passQueued = true
    // A reaction to a settled promise, not queueMicrotask: the same queue and order, but Node's
    // queueMicrotask builds an AsyncResource per call (~50 µs of a trim right after a collection).
    // An error still surfaces as an uncaught exception, as it did.
    void SETTLED.then(() => {
      this.passQueued = false
      try { this.pass() } catch (err) { queueMicrotask(() => { throw err }) }
    })
  }

  /**
   * Dials one peer now, with the shared bookkeeping (backoff, address order, events). Used by the
   * passes and by `connectNow`. Resolves to the accepted connection or throws a PeerwardenError.
   */
  async dialRecord (record: PeerRecord, forced: boolean, signal?: AbortSignal): Promise<Connection> {
    const dial = new RecordDial(record, this.addressWaits.toDial(record, forced, this.host.clock.now()))
    dial.startedAt = this.host.clock.now()
    const onAbort = signal === undefined ? undefined : (): void => { dial.abort(signal.reason) }
    if (onAbort !== undefined) signal!.addEventListener('abort', onAbort, { once: true })
    this.controllers.add(dial)
    record.dialing = true
    record.attempts++
    this.inFlight++
    const other = !record.bootstrap
    if (other) {
      this.inFlightOthers++
      this.noteProgress()
    }
    this.peerChanged(record)
    const topics = record.topics // as declared when the dial starts: the same ones are released at its end
    this.host.dialing(topics, 1)
    const { clock } = this.host
    try {
      const conn = await dialAddresses(this.dialContext, dial)
      if (conn.address !== undefined) {
        const st = addressStats(record, conn.address)
        st.ok = clock.now()
        st.fails = 0
        this.addressWaits.succeeded(conn.address)
      }
      if (!this.host.accept(conn, record, forced)) {
        // Refused as a duplicate of a connection the peer opened at the same time: we are connected.
        const existing = this.host.connectionTo(conn.peer)
        if (existing !== undefined) {
          record.failures = 0
          record.nextDialAt = NaN
          return existing
        }
        throw new PeerwardenError(this.host.refusalCode(conn), `the connection to ${record.id ?? record.key} was refused: ${record.decisions?.at(-1)?.reason ?? 'unknown'}`)
      }
      record.failures = 0
      record.nextDialAt = NaN
      return conn
    } catch (err) {
      const e = err as PeerwardenError
      // A dial we aborted (stop, close, the caller's signal) says nothing about the peer.
      if (!dial.aborted || e.code !== 'ERR_ABORTED') {
        record.failures++
        const delay = nextDelay(record.failures, !Number.isNaN(record.lastConnected), this.host.random, this.policy)
        record.nextDialAt = clock.now() + delay
        this.host.decideCode(record, 'backoff', BACKOFF, record.failures, delay)
      }
      throw err
    } finally {
      record.dialing = false
      this.peerChanged(record)
      this.inFlight--
      if (other) this.inFlightOthers--
      this.host.dialing(topics, -1)
      this.controllers.delete(dial)
      if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort)
      this.host.dialEnded(record)
      this.requestPass()
    }
  }

  /** One address of a dial failed: its stats, its own backoff when hinted, and the manager's report. */
  private addressFailed (record: PeerRecord, address: string, error: Error): void {
    const st = addressStats(record, address)
    st.fails++
    if (record.hinted?.has(address) === true) this.addressWaits.failed(address, this.host.clock.now())
    this.host.addressFailed(record, address, error)
  }

  /**
   * The decision of one pass, without acting: which peers to dial now and why. Reads the candidate
   * index (a few peers), not every known peer, except while a topic is below its quota.
   */
  select (now: number): DialPick[] {
    const picks: DialPick[] = []
    this.index.promote(now)
    const free = this.host.limits().maxParallelDials - this.inFlight
    if (free <= 0) return picks
    const connections = this.host.connections()
    const stalled = this.stalled(now)
    if (this.nothingToChoose(connections, stalled)) {
      // What chooseDials answers then (no pick, bootstrap peers not waited for), without the walk's set-up.
      this.bootstrapWake = Infinity
      return picks
    }
    // Peers whose every address waits (hinted addresses in their own backoff) wait too: re-filed
    // after the walk, since the index must not change while it is walked.
    // (Made on the first: most passes defer nobody.)
    let deferred: Map<PeerRecord, number> | undefined
    // Ready peers that are no longer dialable (their last address moved to another record, which
    // re-files only that one): dropped after the walk, so that no pass walks past them again.
    const stale: PeerRecord[] = []
    // Compact peers made records by this walk: ready, filed in the index after it.
    const fresh: PeerRecord[] = []
    const ready = (r: PeerRecord): boolean => {
      if ((r.candIndex === -1 && !fresh.includes(r)) || picks.some((p) => p.record === r) || deferred?.has(r) === true) return false
      if (!this.dialable(r)) { stale.push(r); return false }
      const wait = this.addressWaits.waitOf(r, now)
      if (wait === undefined) return true
      ;(deferred ??= new Map()).set(r, wait)
      return false
    }
    try {
      const chosen = chooseDials({
        now,
        slots: free,
        connections,
        inFlight: this.inFlight,
        stalled,
        inFlightOthers: this.inFlightOthers,
        lastProgress: this.lastProgress,
        bootstrapQuiet: this.policy.bootstrapQuiet,
        limits: this.host.limits(),
        sync: this.sync,
        sticky: this.index.sticky,
        ordered: this.host.compact === undefined ? () => this.index.ordered() : () => withCompact(this.index.ordered(), this.host.compact!, fresh, this.probe ??= PeerRecord.withSeq('', undefined, 0, 0)),
        records: () => this.host.records(),
        releasableBootstraps: () => this.host.releasableBootstraps(),
        topicsShort: () => this.host.topicsShort(),
        needed: (r, planned) => this.host.needed(r, planned),
        ready
      }, picks)
      if (chosen.bootstrapWake !== undefined) this.bootstrapWake = chosen.bootstrapWake
      return picks
    } finally {
      for (const r of fresh) this.index.update(r, now)
      for (const r of stale) this.index.update(r, now)
      if (deferred !== undefined) for (const [r, until] of deferred) {
        r.nextDialAt = Number.isNaN(r.nextDialAt) ? until : Math.max(r.nextDialAt, until)
        this.peerChanged(r)
      }
    }
  }

  /**
   * Whether `chooseDials` would pick nobody whatever the candidates (its rules 1–4 in dial-selection.ts):
   * no initial sync, no long-term or permanent candidate, the count toward lowWater made, and no topic
   * short with room under highWater. A node at its watermark passes after every connection event.
   */
  private nothingToChoose (connections: number, stalled: number): boolean {
    if (this.sync !== undefined || this.index.sticky.size > 0) return false
    const { lowWater, highWater } = this.host.limits()
    const short = lowWater - connections - (this.inFlight - stalled)
    if (short > 0 || short + this.host.releasableBootstraps() > 0) return false
    return highWater - connections - this.inFlight <= 0 || !this.host.topicsShort()
  }

  /** Dials in flight for `stalledDialAfter` or longer (0 while it is Infinity, the default). */
  private stalled (now: number): number {
    const after = this.host.limits().stalledDialAfter
    if (after === Infinity || this.inFlight === 0) return 0
    let n = 0
    for (const d of this.controllers) if (now - d.startedAt >= after) n++
    return n
  }

  /** When the next dial in flight stalls (Infinity: none will, or `stalledDialAfter` is not set). */
  private nextStall (now: number): number {
    const after = this.host.limits().stalledDialAfter
    if (after === Infinity) return Infinity
    let at = Infinity
    for (const d of this.controllers) if (now - d.startedAt < after && d.startedAt + after < at) at = d.startedAt + after
    return at
  }

  /** One scheduling pass: start the dials the rules allow now, and set the shared timer. */
  pass (): void {
    if (!this.running) return
    const now = this.host.clock.now()
    for (const p of this.select(now)) this.launch(p.record, p.forced, p.why)
    // Wake when a waiting peer is due, but only while there is something to dial for.
    const { lowWater } = this.host.limits()
    const held = this.host.connections() - this.host.releasableBootstraps()
    const demand = this.sync !== undefined || held + this.inFlight - this.stalled(now) < lowWater || this.host.topicsShort()
    let wake = demand ? Math.min(this.index.nextWake(), this.bootstrapWake) : Infinity
    // Short of lowWater but for dials in flight: look again when the first of them stalls.
    if (this.sync === undefined && held < lowWater) wake = Math.min(wake, this.nextStall(now))
    for (const r of this.index.sticky) if (r.waitAt < wake) wake = r.waitAt // NaN (not waiting) is never below
    this.alarm.wakeAt(wake)
  }

  private launch (record: PeerRecord, forced: boolean, why: string): void {
    this.host.decide(record, 'dial', why)
    this.dialRecord(record, forced).catch(IGNORE)
  }
}

/** A failed dial's backoff, as `explain()` writes it: `a` failures in a row, the next try in `b` ms. */
const BACKOFF = reasonCode((failures, delay) => `dial attempt failed (${failures} in a row): next try in ${delay} ms`)
/** A launched dial's failure: reported through events, errors() and backoff (one function for every dial, no closure each). */
const IGNORE = (): void => {}
/** The promise `requestPass()` chains the pass to (a reaction runs on the next microtask). */
const SETTLED = Promise.resolve()
