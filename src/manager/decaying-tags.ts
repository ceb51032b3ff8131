import { Alarm } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { PeerRecord } from './peer-record.js'
import type { BumpFn, Clock, DecayFn, DecayingTag, PeerId } from './types.js'
import * as check from './validate.js'

/** What a decaying tag needs from the manager. */
export interface DecayHost {
  readonly clock: Clock
  /** The peer's record, created when unknown (tags on unseen peers are kept). */
  record(peer: PeerId): PeerRecord
  find(peer: PeerId): PeerRecord | undefined
  /** A decaying tag of the record changed or went: its value is recomputed, the peer re-filed, observers told. */
  tagsChanged(record: PeerRecord): void
}

/**
 * One decaying tag. Rules:
 * - `decay` runs every `interval` of the injected clock, exactly: the n-th tick is at
 *   registration + n × interval, with no hidden resolution (go-libp2p rounds to a 1-minute resolution).
 * - `lastVisit` is the time of the last bump; decay does not touch it (so `expireWhenInactive` works).
 * - A decay result that is not a finite number removes the tag.
 * - `close()` is idempotent, keeps the current values on the peers, and stops decaying;
 *   `bump`/`remove` afterwards throw `ERR_CLOSED`.
 */
export class DecayingTagImpl implements DecayingTag {
  private readonly holders = new Set<PeerRecord>()
  private readonly alarm: Alarm
  private nextTick: number
  private closed = false

  constructor (
    readonly name: string,
    readonly interval: number,
    private readonly decayFn: DecayFn,
    private readonly bumpFn: BumpFn,
    private readonly host: DecayHost,
    private readonly onClose: (tag: DecayingTagImpl) => void
  ) {
    this.alarm = new Alarm(host.clock, () => { this.tick() })
    this.nextTick = host.clock.now() + interval
    this.alarm.wakeAt(this.nextTick)
  }

  bump (peer: PeerId, delta: number): void {
    if (this.closed) throw new PeerwardenError('ERR_CLOSED', `decaying tag ${this.name} is closed; no further bumps are accepted`)
    check.nonEmptyString('peer', peer)
    check.finite('delta', delta)
    const record = this.host.record(peer)
    const now = this.host.clock.now()
    const map = record.decaying ?? (record.decaying = new Map())
    let state = map.get(this.name)
    if (state === undefined) {
      state = { value: 0, added: now, lastVisit: now }
      map.set(this.name, state)
      this.holders.add(record)
    }
    const next = this.bumpFn({ ...state }, delta)
    state.value = Number.isFinite(next) ? check.clampTagValue(next) : state.value
    state.lastVisit = now
    this.host.tagsChanged(record)
  }

  remove (peer: PeerId): void {
    if (this.closed) throw new PeerwardenError('ERR_CLOSED', `decaying tag ${this.name} is closed`)
    const record = this.host.find(peer)
    if (record === undefined || record.decaying?.delete(this.name) !== true) return
    this.holders.delete(record)
    this.host.tagsChanged(record)
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.alarm.cancel()
    this.onClose(this)
  }

  /** Drops a forgotten peer. */
  forget (record: PeerRecord): void {
    this.holders.delete(record)
  }

  private tick (): void {
    if (this.closed) return
    const now = this.host.clock.now()
    for (const record of this.holders) {
      const state = record.decaying?.get(this.name)
      if (state === undefined) { this.holders.delete(record); continue }
      const before = state.value
      const { value, remove } = this.decayFn({ ...state }, now)
      if (remove || !Number.isFinite(value)) {
        record.decaying!.delete(this.name)
        this.holders.delete(record)
        this.host.tagsChanged(record)
      } else if (check.clampTagValue(value) !== before) {
        state.value = check.clampTagValue(value)
        this.host.tagsChanged(record)
      }
    }
    this.nextTick += this.interval
    this.alarm.wakeAt(this.nextTick)
  }
}

/** The registry of decaying tags of one manager. Names are unique while registered. */
export class Decayer {
  /** Made by the first `register()` (most managers have no decaying tag). */
  private tags: Map<string, DecayingTagImpl> | undefined = undefined

  constructor (private readonly host: DecayHost) {}

  register (name: string, interval: number, decayFn: DecayFn, bumpFn: BumpFn): DecayingTag {
    check.nonEmptyString('name', name)
    check.duration('interval', interval, 1)
    check.fn('decay', decayFn)
    check.fn('bump', bumpFn)
    const tags = this.tags ??= new Map()
    if (tags.has(name)) throw new PeerwardenError('ERR_DUPLICATE_TAG', `decaying tag ${JSON.stringify(name)} is already registered`)
    const tag = new DecayingTagImpl(name, interval, decayFn, bumpFn, this.host, (t) => tags.delete(t.name))
    tags.set(name, tag)
    return tag
  }

  forget (record: PeerRecord): void {
    if (record.decaying === undefined || this.tags === undefined) return
    for (const name of record.decaying.keys()) this.tags.get(name)?.forget(record)
  }

  closeAll (): void {
    if (this.tags !== undefined) for (const tag of [...this.tags.values()]) tag.close()
  }
}
