import { PeerwardenError } from '../errors.js'
import { DEFAULT_BACKOFF, nextDelay, type BackoffPolicy } from './backoff.js'
import { compareCandidates, pickCandidates } from './candidates.js'
import { dialAddresses } from './dial.js'
import type { PeerRecord } from './peer-record.js'
import type { Clock, Connection, DialFn, PeerId } from './types.js'

/** What the dialer needs from the manager. */
export interface DialerHost {
  readonly clock: Clock
  readonly random: () => number
  readonly dial: DialFn
  readonly localPeer: PeerId | undefined
  limits(): { lowWater: number; highWater: number; maxParallelDials: number; dialTimeout: number }
  records(): Iterable<PeerRecord>
  connections(): number
  /** Denied by the deny list (by id or by every address). */
  denied(record: PeerRecord): boolean
  /** Serves a topic whose quota's `min` is not met. */
  needed(record: PeerRecord): boolean
  /** A dial of a peer with these topics starts (+1) or ends (-1): they count it as pending. */
  dialing(topics: readonly string[], delta: 1 | -1): void
  /** Any topic below its quota's `min`? (Skips work when none is.) */
  topicsShort(): boolean
  /** Reports our outbound connection to the manager; false = refused. `forced` bypasses the watermarks. */
  accept(conn: Connection, record: PeerRecord, forced: boolean): boolean
  dialStarted(record: PeerRecord, address: string): void
  /** One address failed (events and errors()). */
  addressFailed(record: PeerRecord, address: string, error: Error): void
  decide(record: PeerRecord, action: string, reason: string): void
}

/**
 * Proactive dialing (the sbot scheduler and the js-libp2p "active connection management" proposal).
 *
 * Rules:
 * - Nothing happens until `start()`; `stop()` aborts every dial in flight.
 * - Each pass dials the best candidates (`compareCandidates`) that are not connected, not being
 *   dialled, not banned or denied, have an address, and whose backoff (`nextDialAt`) has passed:
 *   regular peers until the manager holds `lowWater` connections; peers that serve a topic below its
 *   quota while under `highWater`; long-term peers whenever they are lost; permanent peers forever,
 *   outside the watermarks. Never more than `maxParallelDials` at once.
 * - A peer's addresses are tried one by one, the one that last worked first and the ones that failed
 *   last, each with `dialTimeout`.
 * - A failed attempt backs off per peer (`nextDelay`: exponential, jittered, proven peers sooner);
 *   one shared timer wakes the dialer at the earliest `nextDialAt`. A success resets the failures.
 * - Initial sync: only the sync peer (given, or the best candidate) is dialled.
 * - Passes are coalesced: `kick()` from any number of events runs one pass on the next microtask.
 */
export class Dialer {
  private running = false
  private passQueued = false
  private timer: unknown
  private timerAt = Infinity
  private inFlight = 0
  private readonly controllers = new Set<AbortController>()
  /** Initial sync: the peer we were given (if any) and the one we hold or dial now. */
  private sync: { given: PeerRecord | undefined; current: PeerRecord | undefined } | undefined

  constructor (private readonly host: DialerHost, readonly policy: Readonly<BackoffPolicy> = DEFAULT_BACKOFF) {}

  get dialing (): number { return this.inFlight }

  start (): void {
    this.running = true
    this.kick()
  }

  stop (): void {
    this.running = false
    this.host.clock.clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
    for (const c of this.controllers) c.abort(new PeerwardenError('ERR_NOT_RUNNING', 'the manager stopped'))
  }

  /**
   * Enters initial-sync mode: only `given` (or, when undefined, the best candidate) is dialled.
   * `current` is a peer already connected that serves as the sync peer.
   */
  startSync (given: PeerRecord | undefined, current: PeerRecord | undefined): void {
    this.sync = { given, current: given ?? current }
    this.kick()
  }

  stopSync (): void {
    this.sync = undefined
    this.kick()
  }

  /** The peer initial sync holds or dials, once chosen. */
  get syncPeer (): PeerRecord | undefined { return this.sync?.current }

  /** Asks for a pass soon (coalesced). */
  kick (): void {
    if (!this.running || this.passQueued) return
    this.passQueued = true
    queueMicrotask(() => {
      this.passQueued = false
      this.pass()
    })
  }

  /**
   * Dials one peer now, with the shared bookkeeping (backoff, address order, events). Used by the
   * passes and by `connectNow`. Resolves to the accepted connection or throws a PeerwardenError.
   */
  async dialRecord (record: PeerRecord, forced: boolean, signal?: AbortSignal): Promise<Connection> {
    const controller = new AbortController()
    const onAbort = (): void => { controller.abort(signal?.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
    this.controllers.add(controller)
    record.dialing = true
    record.attempts++
    this.inFlight++
    const topics = record.topics // as declared when the dial starts: the same ones are released at its end
    this.host.dialing(topics, 1)
    const { clock } = this.host
    try {
      const conn = await dialAddresses({
        dial: this.host.dial,
        clock,
        timeout: this.host.limits().dialTimeout,
        onStart: (address) => { this.host.dialStarted(record, address) },
        onFailure: (address, error) => {
          const st = addressStats(record, address)
          st.fails++
          this.host.addressFailed(record, address, error)
        }
      }, { peer: record.id, addresses: orderAddresses(record), signal: controller.signal })
      if (conn.address !== undefined) {
        const st = addressStats(record, conn.address)
        st.ok = clock.now()
        st.fails = 0
      }
      if (!this.host.accept(conn, record, forced)) {
        // Refused as a duplicate of a connection the peer opened at the same time: we are connected.
        if (record.conn !== undefined) {
          record.failures = 0
          record.nextDialAt = undefined
          return record.conn.conn
        }
        throw new PeerwardenError('ERR_DIAL_FAILED', `the connection to ${record.id ?? record.key} was refused: ${record.decisions?.at(-1)?.reason ?? 'unknown'}`)
      }
      record.failures = 0
      record.nextDialAt = undefined
      return conn
    } catch (err) {
      const e = err as PeerwardenError
      // A dial we aborted (stop, close, the caller's signal) says nothing about the peer.
      if (!controller.signal.aborted || e.code !== 'ERR_ABORTED') {
        record.failures++
        const delay = nextDelay(record.failures, record.lastConnected !== undefined, this.host.random, this.policy)
        record.nextDialAt = clock.now() + delay
        this.host.decide(record, 'backoff', `dial attempt failed (${record.failures} in a row): next try in ${delay} ms`)
      }
      throw err
    } finally {
      record.dialing = false
      this.inFlight--
      this.host.dialing(topics, -1)
      this.controllers.delete(controller)
      signal?.removeEventListener('abort', onAbort)
      this.kick()
    }
  }

  /** One scheduling pass: start the dials the rules allow now, and set the shared timer. */
  pass (): void {
    if (!this.running) return
    const now = this.host.clock.now()
    const { lowWater, highWater, maxParallelDials } = this.host.limits()
    let free = maxParallelDials - this.inFlight
    if (free <= 0) return
    const connections = this.host.connections()
    let nextWake = Infinity

    const ready = (r: PeerRecord): boolean => {
      if (r.conn !== undefined || r.dialing || r.priority === 'banned' || r.addresses.length === 0) return false
      if (r.id !== undefined && r.id === this.host.localPeer) return false
      if (this.host.denied(r)) return false
      if (r.nextDialAt !== undefined && r.nextDialAt > now) {
        if (r.nextDialAt < nextWake && (r.longTerm || r.permanent || connections + this.inFlight < lowWater || this.sync !== undefined)) nextWake = r.nextDialAt
        return false
      }
      return true
    }

    if (this.sync !== undefined) {
      // Exactly one outbound connection: keep the one we hold, else dial one peer at a time.
      const s = this.sync
      // Permanent peers are the application's: they are redialled even during initial sync.
      for (const r of pickCandidates(this.host.records(), free, (x) => x.permanent && ready(x), (a, b) => compareCandidates(a, b, () => false))) {
        this.launch(r, true, 'permanent peer: reconnect (initial sync does not pause it)')
      }
      if (s.current?.conn === undefined && this.inFlight === 0) {
        const target = s.given ?? this.best(ready)
        if (target !== undefined && ready(target)) {
          s.current = target
          this.launch(target, false, 'initial sync: the one outbound connection')
        }
      }
      this.arm(nextWake)
      return
    }

    const topics = this.host.topicsShort()
    const needed = topics ? (r: PeerRecord) => this.host.needed(r) : () => false
    let regular = lowWater - connections - this.inFlight
    const room = highWater - connections - this.inFlight
    const eligible = (r: PeerRecord): boolean => ready(r) && (r.permanent || r.longTerm || regular > 0 || (room > 0 && needed(r)))
    const picked = pickCandidates(this.host.records(), free, eligible, (a, b) => compareCandidates(a, b, needed))
    let topicRoom = room
    for (const r of picked) {
      if (free <= 0) break
      if (r.permanent || r.longTerm) {
        // They are reconnected whatever the count, and their connections count like any other.
        regular--
        topicRoom--
        this.launch(r, r.permanent, r.permanent ? 'permanent peer: reconnect' : 'long-term peer: reconnect')
      } else if (needed(r) && topicRoom > 0) {
        topicRoom--
        regular--
        this.launch(r, false, `serves a topic below its quota (${r.topics.join(', ')})`)
      } else if (regular > 0) {
        regular--
        this.launch(r, false, `below lowWater ${lowWater}: ${connections} connected, ${this.inFlight} dialling`)
      } else {
        continue
      }
      free--
    }
    this.arm(nextWake)
  }

  private best (ready: (r: PeerRecord) => boolean): PeerRecord | undefined {
    return pickCandidates(this.host.records(), 1, ready, (a, b) => compareCandidates(a, b, () => false))[0]
  }

  private launch (record: PeerRecord, forced: boolean, why: string): void {
    this.host.decide(record, 'dial', why)
    this.dialRecord(record, forced).catch(() => { /* reported through events, errors() and backoff */ })
  }

  /** Keeps one shared timer for the earliest peer whose backoff ends. */
  private arm (at: number): void {
    if (at === Infinity || at >= this.timerAt) return
    this.host.clock.clearTimeout(this.timer)
    this.timerAt = at
    this.timer = this.host.clock.setTimeout(() => {
      this.timer = undefined
      this.timerAt = Infinity
      this.pass()
    }, Math.max(0, at - this.host.clock.now()))
  }
}

function addressStats (record: PeerRecord, address: string): { ok: number; fails: number } {
  const map = record.addressStats ?? (record.addressStats = new Map())
  let st = map.get(address)
  if (st === undefined) { st = { ok: -Infinity, fails: 0 }; map.set(address, st) }
  return st
}

/** The record's addresses, the one that worked most recently first, failing ones last. */
export function orderAddresses (record: PeerRecord): string[] {
  const stats = record.addressStats
  if (stats === undefined) return record.addresses.slice()
  const key = (a: string): { ok: number; fails: number } => stats.get(a) ?? { ok: -Infinity, fails: 0 }
  return record.addresses.slice().sort((a, b) => {
    const x = key(a)
    const y = key(b)
    if (x.fails !== y.fails) return x.fails - y.fails
    return y.ok - x.ok
  })
}
