import type { PeerBook } from './peer-book.js'
import type { Persistence } from './persistence.js'
import type { PeerRecord } from './peer-record.js'
import type { Clock, PeerId, TagInfo } from './types.js'
import * as check from './validate.js'

/** Below this, tag arithmetic on integers is exact: the incremental sum needs no recount. */
const SMALL = 2 ** 50

/**
 * Sets `key` as an own enumerable property, even for '__proto__' (an assignment would set the
 * object's prototype instead, and the tag would be missing from the listing).
 */
export function setOwn (target: Record<string, number>, key: string, value: number): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

/** What tags and protection need from the manager. */
export interface TaggingHost {
  readonly clock: Clock
  readonly book: PeerBook
  readonly persist: Persistence | undefined
  explainDepth(): number
  /** Only the peer's value moved: re-sorts it where it is indexed (a tag never makes a peer trimmable). */
  valueChanged(record: PeerRecord): void
  /** The verb: the peer's protection changed (it may now be trimmed or dialled): re-files it everywhere. */
  peerChanged(record: PeerRecord): void
  /** A peer just became trimmable: a background trim may restore the bound. */
  scheduleTrimIfOver(): void
  /** Tells the peer observers (once per tick). */
  notifyObservers(): void
}

/**
 * Tags (go-libp2p's `TagPeer` / `UpsertTag` / `GetTagInfo`) and protection (`Protect` / `Unprotect`).
 *
 * Rules:
 * - A tag is a named number on a peer; the peer's value is the sum of its tags (decaying ones
 *   included). Values must be finite (ERR_INVALID_ARGUMENT otherwise); a tag value and the sum are
 *   clamped to ±`TAG_VALUE_BOUND` (Number.MAX_SAFE_INTEGER). Tagging an unknown peer makes it known. Static tags are stored; protections are not.
 * - Protection is per tag, idempotent and not reference-counted: `protect(p, 'a')` twice then
 *   `unprotect(p, 'a')` once leaves `p` unprotected under 'a'. A peer is protected while any tag
 *   protects it; a protected peer is never trimmed.
 */
export class Tagging {
  private protectedPeers = 0

  constructor (private readonly host: TaggingHost) {}

  /** How many peers are protected now. */
  get protectedCount (): number { return this.protectedPeers }

  tag (peer: PeerId, tag: string, value: number): void {
    check.nonEmptyString('peer', peer)
    check.nonEmptyString('tag', tag)
    check.finite('value', value)
    this.set(this.record(peer), tag, value)
  }

  untag (peer: PeerId, tag: string): void {
    check.nonEmptyString('peer', peer)
    check.nonEmptyString('tag', tag)
    const record = this.host.book.get(peer)
    const old = record?.tags?.get(tag)
    if (record === undefined || old === undefined) return
    record.tags!.delete(tag)
    this.host.persist?.touch(record)
    record.recomputeValue()
    this.host.peerChanged(record)
    this.host.notifyObservers()
  }

  upsert (peer: PeerId, tag: string, upsert: (current: number) => number): void {
    check.nonEmptyString('peer', peer)
    check.nonEmptyString('tag', tag)
    check.fn('upsert', upsert)
    const record = this.record(peer)
    this.set(record, tag, check.finite('upsert result', upsert(record.tags?.get(tag) ?? 0)))
  }

  info (peer: PeerId): TagInfo | undefined {
    check.nonEmptyString('peer', peer)
    const record = this.host.book.get(peer)
    if (record === undefined) return undefined
    const tags: Record<string, number> = {}
    if (record.tags !== undefined) for (const [k, v] of record.tags) setOwn(tags, k, v)
    if (record.decaying !== undefined) for (const [k, d] of record.decaying) setOwn(tags, k, d.value)
    const conns: Record<string, number> = {}
    if (record.conn !== undefined) setOwn(conns, record.conn.conn.id, record.conn.openedAt)
    return { firstSeen: record.firstSeen, value: record.value, tags, conns }
  }

  protect (peer: PeerId, tag: string): void {
    check.nonEmptyString('peer', peer)
    check.nonEmptyString('tag', tag)
    const record = this.record(peer)
    if (record.protections?.has(tag) === true) return
    if (!record.isProtected) this.protectedPeers++
    ;(record.protections ??= new Set()).add(tag)
    record.decide(this.host.clock.now(), 'protect', `protected under tag ${JSON.stringify(tag)}`, this.host.explainDepth())
    this.host.peerChanged(record)
    this.host.notifyObservers()
  }

  /** Returns whether the peer is still protected (under another tag). */
  unprotect (peer: PeerId, tag: string): boolean {
    check.nonEmptyString('peer', peer)
    check.nonEmptyString('tag', tag)
    const record = this.host.book.get(peer)
    if (record?.protections === undefined) return false
    if (record.protections.delete(tag)) {
      record.decide(this.host.clock.now(), 'unprotect', `protection ${JSON.stringify(tag)} removed; ${record.protections.size} left`, this.host.explainDepth())
      if (!record.isProtected) {
        this.protectedPeers--
        this.host.peerChanged(record)
        this.host.scheduleTrimIfOver()
      }
      this.host.notifyObservers()
    }
    return record.isProtected
  }

  /** Protected at all (no tag, or ''): under any tag, or permanent (`connectNow(…, { permanent })`); or under `tag`. */
  isProtected (peer: PeerId, tag?: string): boolean {
    check.nonEmptyString('peer', peer)
    const record = this.host.book.get(peer)
    if (record === undefined) return false
    if (tag === undefined || tag === '') return record.isProtected || record.permanent
    return record.protections?.has(tag) === true
  }

  /** `from` merges into `into` (merge.ts): its protections join `into`'s, counted once. */
  absorb (into: PeerRecord, from: PeerRecord): void {
    if (!from.isProtected) return
    if (into.isProtected) this.protectedPeers--
    for (const t of from.protections!) (into.protections ??= new Set()).add(t)
    from.protections = undefined
  }

  /** The peer is forgotten: its tags and protections go (the caller re-ranks it). */
  forget (record: PeerRecord): void {
    if (record.isProtected) this.protectedPeers--
    record.tags = record.decaying = record.protections = undefined
    record.value = 0
  }

  private set (record: PeerRecord, tag: string, value: number): void {
    const tags = record.tags ?? (record.tags = new Map())
    const v = check.clampTagValue(value)
    const next = record.value + v - (tags.get(tag) ?? 0)
    tags.set(tag, v)
    // Incremental while every term is far from the bound (the hot path); summed afresh otherwise,
    // since an incremental sum of clamped huge values drifts.
    if (Math.abs(next) < SMALL && Math.abs(v) < SMALL && Math.abs(record.value) < SMALL) record.value = next
    else record.recomputeValue()
    this.host.persist?.touch(record)
    this.host.valueChanged(record)
    this.host.notifyObservers()
  }

  /** The peer's record, made if unknown; the application names it, so it is no mere hint any more. */
  private record (peer: PeerId): PeerRecord {
    const { record } = this.host.book.getOrCreate(peer, this.host.clock.now())
    record.hint = false
    return record
  }
}
