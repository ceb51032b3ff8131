import { compareCandidates, pickCandidates } from './dial-order.js'
import type { PeerRecord } from './peer-record.js'

/** One peer a pass dials, whether the dial is forced (outside the watermarks) and why. */
export interface DialPick { record: PeerRecord; forced: boolean; why: string }

/** Initial sync: the peer we were given (if any) and the one we hold or dial now. */
export interface SyncState { given: PeerRecord | undefined; current: PeerRecord | undefined }

/** What one pass of the dial scheduler sees when it decides. */
export interface DialView {
  now: number
  /** Free dial slots (`maxParallelDials` minus the dials in flight), > 0. */
  slots: number
  connections: number
  inFlight: number
  /** Of `inFlight`, the dials in flight for `stalledDialAfter` or longer: they no longer count toward `lowWater`. */
  stalled: number
  /** Dials in flight to peers that are not bootstrap peers. */
  inFlightOthers: number
  /** Last time the network got us somewhere (a connection, or a dial of a non-bootstrap peer). */
  lastProgress: number
  bootstrapQuiet: number
  limits: { lowWater: number; highWater: number }
  /** Initial sync, when on; `current` is set here when the sync peer is chosen. */
  sync: SyncState | undefined
  /** Long-term and permanent candidates. */
  sticky: Iterable<PeerRecord>
  /** The ready candidates in dial order, best first. */
  ordered(): Iterable<PeerRecord>
  /** Every known peer (scanned only while a topic is short). */
  records(): Iterable<PeerRecord>
  releasableBootstraps(): number
  topicsShort(): boolean
  needed(record: PeerRecord, planned: ReadonlyMap<string, number>): boolean
  /** May the peer be dialled now (and was not picked yet)? */
  ready(record: PeerRecord): boolean
}

/**
 * The decision of one dial pass: which peers to dial now and why, appended to `picks` (which
 * `view.ready` may read). Acts on nothing but `view.sync.current` (the sync peer, once chosen).
 * Returns when the scheduler should look at bootstrap peers again (`bootstrapWake`; undefined:
 * leave it as it was).
 *
 * Rules, in order (dial-scheduler.ts states them for the user):
 * 1. initial sync: permanent peers, and one sync peer at a time — nothing else;
 * 2. long-term and permanent peers whenever they are lost;
 * 3. peers that serve a topic below its quota's `min`, while under `highWater`;
 * 4. the best candidates until `lowWater`, bootstrap connections about to be released not counted
 *    (bootstrap-release.ts `apart`), nor dials in flight for `stalledDialAfter`; bootstrap peers last,
 *    and only once nothing else is in flight and the network made no progress for `bootstrapQuiet`.
 */
export function chooseDials (view: DialView, picks: DialPick[]): { bootstrapWake: number | undefined } {
  const { now, connections, inFlight, ready } = view
  const { lowWater, highWater } = view.limits
  let free = view.slots
  const take = (r: PeerRecord, forced: boolean, why: string): void => { picks.push({ record: r, forced, why }); free-- }

  if (view.sync !== undefined) {
    // Permanent peers are the application's: they are redialled even during initial sync.
    for (const r of view.sticky) if (free > 0 && r.permanent && ready(r)) take(r, true, 'permanent peer: reconnect (initial sync does not pause it)')
    // Exactly one outbound connection: keep the one we hold, else dial one peer at a time.
    const s = view.sync
    if (s.current?.conn === undefined && inFlight === 0 && free > 0) {
      const target = s.given ?? first(view.ordered(), ready)
      if (target !== undefined && ready(target)) {
        s.current = target
        take(target, false, 'initial sync: the one outbound connection')
      }
    }
    return { bootstrapWake: undefined }
  }

  // A bootstrap connection is for getting started: other peers are dialled toward lowWater without
  // counting it (the manager releases it once they are there); a bootstrap peer itself is dialled
  // only while the plain count is short.
  const releasable = view.releasableBootstraps()
  const counted = inFlight - view.stalled
  let regular = lowWater - (connections - releasable) - counted
  let topicRoom = highWater - connections - inFlight
  // Long-term and permanent peers are redialled whatever the count; their connections count like any other.
  for (const r of view.sticky) {
    if (free <= 0) break
    if (!ready(r)) continue
    take(r, r.permanent, r.permanent ? 'permanent peer: reconnect' : 'long-term peer: reconnect')
    regular--
    topicRoom--
  }
  if (free > 0 && topicRoom > 0 && view.topicsShort()) {
    const planned = new Map<string, number>()
    const needed = (r: PeerRecord): boolean => view.needed(r, planned)
    const byNeed = pickCandidates(view.records(), free, (r) => ready(r) && needed(r), (a, b) => compareCandidates(a, b, needed))
    for (const r of byNeed) {
      if (free <= 0 || topicRoom <= 0) break
      // Each pick counts toward its topics, so a short topic gets only the dials it is missing.
      if (!needed(r)) continue
      take(r, false, `serves a topic below its quota (${r.topics.join(', ')})`)
      for (const t of r.topics) planned.set(t, (planned.get(t) ?? 0) + 1)
      topicRoom--
      regular--
    }
  }
  let bootstrapWake = Infinity
  if (free > 0 && regular > 0) {
    for (const r of view.ordered()) {
      if (free <= 0 || regular <= 0) break
      if (!ready(r)) continue
      if (r.bootstrap) {
        // Bootstrap peers sort last: past here, only they are left. They are a last resort.
        if (view.inFlightOthers > 0 || picks.some((p) => !p.record.bootstrap) || regular - releasable <= 0) break
        if (connections > 0 && now - view.lastProgress < view.bootstrapQuiet) {
          bootstrapWake = view.lastProgress + view.bootstrapQuiet
          break
        }
      }
      take(r, false, belowLowWater(lowWater, connections, counted))
      regular--
    }
  }
  return { bootstrapWake }
}

/** The first of `ordered` that `accept` takes. */
function first (ordered: Iterable<PeerRecord>, accept: (r: PeerRecord) => boolean): PeerRecord | undefined {
  for (const r of ordered) if (accept(r)) return r
  return undefined
}

/**
 * The reason of a dial toward lowWater, one string per (lowWater, connected, dialling) for the small
 * counts every node sees: each dialled peer keeps it among its decisions, and a network of 100,000
 * simulated nodes keeps millions of them. At most `REASONS` strings are kept; past that, or past the
 * small counts, each is built anew.
 */
function belowLowWater (lowWater: number, connections: number, inFlight: number): string {
  const small = lowWater < 2048 && connections < 1024 && inFlight < 1024
  const key = small ? lowWater * 1048576 + connections * 1024 + inFlight : -1
  const known = small ? reasons.get(key) : undefined
  if (known !== undefined) return known
  const why = `below lowWater ${lowWater}: ${connections} connected, ${inFlight} dialling`
  if (small && reasons.size < REASONS) reasons.set(key, why)
  return why
}

const reasons = new Map<number, string>()
const REASONS = 4096
