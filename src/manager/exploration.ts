import { Alarm } from '../clock.js'
import { addressRange } from './address-range.js'
import type { PeerRecord } from './peer-record.js'
import type { Clock } from './types.js'

/** What exploration needs from the manager. */
export interface ExplorationHost {
  readonly clock: Clock
  readonly random: () => number
  running(): boolean
  /** `exploreInterval` now (0: off). */
  interval(): number
  /** Is any topic quota set? Without one there is nothing to explore for. */
  anyQuota(): boolean
  limits(): { lowWater: number; highWater: number }
  /** Connections accounted now. */
  count(): number
  /** Is the dialer busy (dials in flight, or initial sync on)? Exploring waits for it to be idle. */
  busy(): boolean
  /** Every known peer. */
  records(): Iterable<PeerRecord>
  /** May the peer be dialled now (not connected nor dialled, not banned or denied, an address, its backoff over)? */
  dialableNow(record: PeerRecord, now: number): boolean
  /** Does the peer serve a topic that has a quota (one we joined)? */
  servesQuotaTopic(record: PeerRecord): boolean
  /** Dials the peer as the dial scheduler would (backoff, events); resolves true once connected. */
  dial(record: PeerRecord, why: string): Promise<boolean>
  /** The lowest-ranked trimmable connected peer other than `except`, topic quotas kept (the trim order). */
  lowest(except: PeerRecord): PeerRecord | undefined
  /** Closes the peer's connection with reason 'trimmed'. */
  close(record: PeerRecord, why: string): void
}

/**
 * Exploration: an occasional connection outside the current neighbourhood, so that a group of nodes
 * of a topic that are all content (at `lowWater`, so none of them dials) cannot stay cut off from the
 * rest of the topic's peers for good. The dialer alone never looks further once `lowWater` is reached, and a
 * group that formed apart (say, three readers of a topic connected to one another while the
 * writer's side is full) would stay apart; go-libp2p's and js-libp2p's managers behave the same.
 *
 * Rules:
 * - Off when `exploreInterval` is 0. Otherwise one shared timer fires every `exploreInterval`,
 *   jittered to between half and one and a half times it (from the injected `random`), only while
 *   the manager runs and some topic quota is set (it is armed by `start()` and `setTopicQuota`).
 * - When it fires, it explores only if the node is content and has room: at least `lowWater` and
 *   fewer than `highWater` connections, no dial in flight, initial sync off. Then it dials one
 *   known peer of a joined topic (one with a quota, `setTopicQuota`) that may be dialled now (not
 *   connected, not banned or denied, its backoff over) and is not a bootstrap peer, chosen at
 *   random: first one address range among theirs (the /24 of an IPv4 address, the /48 of an IPv6
 *   one; a peer without an IP address is a range of its own), then one peer in it — so a referral
 *   that names hundreds of peers in one range (sybils, cheap to make) wins no more dials than any
 *   other range. A node with no topic quota, or that knows no such peer, never explores. The dial is an
 *   ordinary one (admission, backoff, events), never forced.
 * - Once that peer is connected, the node lets its lowest-ranked trimmable connection other than the
 *   new one go ('trimmed', the trim order: topic quotas kept, protected and in-grace peers never),
 *   if it holds more than `lowWater`: the count is where it was, one neighbour swapped for a
 *   stranger. Nothing new is protected: from there on the new connection ranks like any other.
 * - The bound holds: it explores only below `highWater`, and the dial's admission applies as always.
 */
export class Exploration {
  private readonly alarm: Alarm
  /** Explorations begun (each one dial). */
  started = 0
  /** Of those: connected, and one older connection let go. */
  rotated = 0

  constructor (private readonly host: ExplorationHost) {
    this.alarm = new Alarm(host.clock, () => { this.fire() })
  }

  /** Arms the timer if exploring is on, a topic quota is set and none is armed (start, a quota set). */
  schedule (): void {
    const interval = this.host.interval()
    // Without a quota no timer is set and no random number drawn: a manager without topics behaves as if exploration did not exist.
    if (!this.host.running() || interval <= 0 || this.alarm.armed || !this.host.anyQuota()) return
    this.alarm.wakeAt(this.host.clock.now() + Math.round(interval * (0.5 + this.host.random())))
  }

  /** Forgets the armed timer (the manager stops, or the interval changed). */
  reset (): void {
    this.alarm.cancel()
  }

  /** The peer one exploration would dial now, or undefined (the rules' choice; reads every known peer). */
  pick (now: number): PeerRecord | undefined {
    const { host } = this
    // Per address range, one candidate picked by reservoir sampling (each with the same chance), in one pass.
    const ranges = new Map<string, { seen: number; best: PeerRecord }>()
    for (const r of host.records()) {
      if (r.bootstrap || !host.servesQuotaTopic(r) || !host.dialableNow(r, now)) continue
      const range = rangeOf(r)
      const got = ranges.get(range)
      if (got === undefined) ranges.set(range, { seen: 1, best: r })
      else if (host.random() * ++got.seen < 1) got.best = r
    }
    if (ranges.size === 0) return undefined
    // Then one range, each with the same chance, however many peers a referral put in it.
    let i = Math.floor(host.random() * ranges.size)
    for (const { best } of ranges.values()) if (i-- === 0) return best
    return undefined
  }

  private fire (): void {
    const { host } = this
    if (!host.running()) return
    this.schedule()
    const { lowWater, highWater } = host.limits()
    const before = host.count()
    if (before < lowWater || before >= highWater || host.busy()) return
    const target = this.pick(host.clock.now())
    if (target === undefined) return
    this.started++
    const why = `exploring: ${before} connections (lowWater ${lowWater}, highWater ${highWater}), one dial outside the neighbourhood`
    host.dial(target, why).then((connected) => {
      if (!connected || !host.running() || target.conn === undefined) return
      const now = host.count()
      if (now <= before) return
      const victim = host.lowest(target)
      if (victim === undefined) return
      this.rotated++
      host.close(victim, `rotated out for ${target.id ?? target.key}, reached by exploring: ${now} connections, lowWater ${lowWater}`)
    }, () => { /* reported through events, errors() and backoff */ })
  }
}

/** The address range a candidate is counted in for exploration (`addressRange`); a peer with no IP address is a range of its own. */
function rangeOf (record: PeerRecord): string {
  for (const address of record.addresses) {
    const range = addressRange(address)
    if (range !== undefined) return range
  }
  return `peer:${record.key}`
}
