import { PeerwardenError } from '../errors.js'
import type {
  BumpFn, Connection, ConnectionInfo, ConnectionManager, ConnectionManagerOptions, DecayFn, DecayingTag, PeerId, PeerInfo, PeerInput,
  Priority, TagInfo
} from './types.js'
import { ManagerParts } from './manager-parts.js'
import type { PeerRecord } from './peer-record.js'
import * as check from './validate.js'

/**
 * The connection manager: the public API over the parts, each of which owns one piece of policy —
 * connections.ts the accounting (admission.ts, duplicates.ts), trim-scheduler.ts trimming,
 * dial-scheduler.ts dialing, backoff.ts every wait, peer-knowledge.ts what is known of peers,
 * tagging.ts tags and protection, and so on. wiring.ts builds them and is the map of who calls whom.
 *
 * Rules:
 * - The bound, from creation (started or not): every `connected()` that would cross `highWater`
 *   either evicts the lowest-ranked trimmable peer at once or is refused, so the count never exceeds
 *   `highWater` except for connections the application forced (allow-listed, protected, permanent,
 *   `connectNow`), which a background trim (at most once per `silencePeriod`) brings back down once
 *   they become trimmable.
 * - One verb for "this peer changed": `peerChanged(record)` (wiring.ts, with the list of the other
 *   verbs and what each decides).
 * - Nothing here reads the wall clock or sets a timer of its own: time is the injected `Clock`.
 */
export class Manager extends ManagerParts implements ConnectionManager {
  // ── knowledge of peers ──────────────────────────────────────────────────

  addPeers (peers: PeerInput[]): void {
    this.assertOpen()
    this.knowledge.add(peers)
    // A flag lifted or a priority lowered may make a parked peer evictable again.
    if (peers.some((p) => p?.hint !== true && (p?.longTerm === false || p?.bootstrap === false || p?.priority !== undefined))) this.budget.reconsider()
    this.observers.notify()
    this.dialer.requestPass()
  }

  setPriority (updates: Array<{ peer: PeerId | string; priority: Priority }>): void {
    this.assertOpen()
    check.priorityUpdates(updates)
    // A bare IP or a CIDR is that IP or range: a deny entry (deny-control.ts).
    this.knowledge.setPriority(this.denyControl.takeRanges(updates))
    this.budget.reconsider()
    this.budget.enforce()
    this.observers.notify()
    this.dialer.requestPass()
  }

  setLongTerm (peer: PeerId, longTerm: boolean): void {
    this.assertOpen()
    this.knowledge.setLongTerm(peer, longTerm)
    this.budget.reconsider()
    this.budget.enforce()
    this.observers.notify()
    this.rotation.schedule()
    this.dialer.requestPass()
  }

  deny (entry: string): boolean {
    this.assertOpen()
    return this.denyControl.deny(entry)
  }

  undeny (entry: string): boolean {
    if (this.closed) return false // releasing: quiet after close
    return this.denyControl.undeny(entry)
  }

  allow (entry: string): boolean {
    this.assertOpen()
    return this.allowControl.allow(entry)
  }

  unallow (entry: string): boolean {
    if (this.closed) return false // releasing: quiet after close
    return this.allowControl.unallow(entry)
  }

  isAllowed (peer: PeerId | undefined, address?: string): boolean {
    return this.allowList.matches(typeof peer === 'string' ? peer : undefined, typeof address === 'string' ? address : undefined)
  }

  forgetPeer (peer: PeerId): void {
    if (this.closed) return // releasing: quiet after close
    if (this.knowledge.forget(peer)) this.observers.notify()
  }

  getPeer (peer: PeerId): PeerInfo | undefined {
    check.nonEmptyString('peer', peer)
    return this.book.resolve(peer)?.info()
  }

  // ── connections (connections.ts) ────────────────────────────────────────

  connected (conn: Connection): boolean {
    check.connection(conn)
    if (this.connections.has(conn)) return true // a repeated notification
    const accepted = this.connections.accept(conn, false)
    this.budget.enforce() // a refused stranger is known now too
    return accepted
  }

  accepts (address: string): boolean {
    return !this.closed && !this.denyList.matches(undefined, address)
  }

  admits (peer: PeerId | string, address?: string): boolean {
    if (typeof peer !== 'string') return false
    return this.connections.admits(peer, address)
  }

  isDenied (peer: PeerId | undefined, address?: string): boolean {
    return this.denyList.matches(typeof peer === 'string' ? peer : undefined, typeof address === 'string' ? address : undefined)
  }

  disconnected (conn: Connection): void {
    check.connectionRef(conn)
    const entry = this.connections.get(conn)
    if (entry === undefined) return // unknown or already closed by us: harmless
    this.connections.dropped(entry)
  }

  streamsChanged (conn: Connection): void {
    check.connectionRef(conn)
    const entry = this.connections.get(conn)
    if (entry !== undefined) this.trimming.streamsChanged(entry.record, entry.conn)
  }

  listConnections (): ConnectionInfo[] { return this.connections.list() }

  async connectNow (peer: PeerId | string, opts: { permanent?: boolean; signal?: AbortSignal } = {}): Promise<Connection> {
    this.assertOpen()
    check.nonEmptyString('peer', peer)
    const record = this.knowledge.resolveOrCreate(peer)
    if (record.priority === 'banned') throw new PeerwardenError('ERR_BANNED', `peer ${peer} is banned`)
    if (this.denyList.deniesPeer(record)) {
      throw new PeerwardenError('ERR_DENIED', `peer ${peer} is on the deny list`)
    }
    if (opts.permanent === true && !record.permanent) {
      record.permanent = true
      this.persist?.touch(record)
      this.trimming.peerChanged(record)
      this.dialer.peerChanged(record)
      this.observers.notify()
    }
    if (record.conn !== undefined) return record.conn.conn
    try {
      return await this.connections.forcedWhile(record, () => {
        const dialing = this.dialer.dialRecord(record, true, opts.signal)
        this.budget.enforce() // the record dials now: it stays
        return dialing
      })
    } catch (err) {
      throw this.banLanded(peer, record, err)
    }
  }

  /**
   * What a `connectNow` whose dial failed rejects with: ERR_BANNED (or ERR_DENIED) when the peer was
   * banned (or denied) while the dial was in flight, whatever ended the dial (a transport that
   * refused the peer itself, a timeout), the dial's own error as the `cause`; else that error.
   */
  private banLanded (peer: string, record: PeerRecord, err: unknown): unknown {
    const code = (err as PeerwardenError | undefined)?.code
    if (code === 'ERR_BANNED' || code === 'ERR_DENIED') return err
    const now = this.book.resolve(peer) ?? record
    if (now.priority === 'banned' || record.priority === 'banned') return new PeerwardenError('ERR_BANNED', `peer ${peer} was banned while the dial was in flight`, { cause: err })
    if (this.denyList.deniesPeer(now)) return new PeerwardenError('ERR_DENIED', `peer ${peer} was denied while the dial was in flight`, { cause: err })
    return err
  }

  resetBackoff (peer?: PeerId | string): void {
    this.assertOpen()
    if (peer !== undefined) check.nonEmptyString('peer', peer)
    const targets = peer !== undefined ? [this.book.resolve(peer)].filter((r) => r !== undefined) : [...this.book.values()].filter((r) => r.bootstrap)
    for (const r of targets) {
      r.nextDialAt = NaN
      r.decide(this.clock.now(), 'backoff', 'backoff reset by the application', this.opts.explainDepth)
      this.dialer.peerChanged(r)
    }
    this.dialer.requestPass()
  }

  /**
   * Closes the peer's connection with the reason 'stopped'. Like a trimmed peer, the peer then rests
   * (`restAfterClose`: 'disconnect') before the dialer would dial it again; `resetBackoff` or a dial
   * of the application's own (`connectNow`) bring it back sooner.
   */
  async disconnect (peer: PeerId): Promise<void> {
    check.nonEmptyString('peer', peer)
    if (this.closed) return // nothing is connected any more
    const entry = this.book.resolve(peer)?.conn
    if (entry === undefined) return
    this.connections.close(entry, 'stopped', 'disconnect() was called', 'disconnect')
  }

  // ── limits ──────────────────────────────────────────────────────────────

  setMaxConnections (max: number): void {
    check.int('max', max, 1)
    this.setWatermarks(Math.min(this.opts.lowWater, max), max)
  }

  setWatermarks (low: number, high: number): void {
    this.assertOpen()
    check.watermarks(low, high, 'low', 'high')
    this.opts.lowWater = low
    this.opts.highWater = high
    // The bound holds from creation: a lowered limit trims at once, started or not.
    if (this.connections.size > high) this.trimming.trim('limit', 'limit lowered')
    this.dialer.requestPass()
  }

  setLifetime (ms: number | undefined): void {
    this.assertOpen()
    if (ms !== undefined) check.duration('lifetime', ms, 1)
    this.opts.lifetime = ms
    this.rotation.reset()
    this.rotation.schedule()
  }

  // ── tags and protection (tagging.ts, decaying-tags.ts) ──────────────────

  tagPeer (peer: PeerId, tag: string, value: number): void {
    this.assertOpen()
    this.tagging.tag(peer, tag, value)
    this.budget.enforce()
  }

  untagPeer (peer: PeerId, tag: string): void {
    if (this.closed) return
    this.tagging.untag(peer, tag)
    this.budget.reconsider()
  }

  upsertTag (peer: PeerId, tag: string, upsert: (current: number) => number): void {
    this.assertOpen()
    this.tagging.upsert(peer, tag, upsert)
    this.budget.enforce()
  }

  getTagInfo (peer: PeerId): TagInfo | undefined { return this.tagging.info(peer) }

  protect (peer: PeerId, tag: string): void {
    this.assertOpen()
    this.tagging.protect(peer, tag)
    this.budget.enforce()
  }

  unprotect (peer: PeerId, tag: string): boolean {
    if (this.closed) return false
    const still = this.tagging.unprotect(peer, tag)
    if (!still) this.budget.reconsider()
    return still
  }

  isProtected (peer: PeerId, tag?: string): boolean { return this.tagging.isProtected(peer, tag) }

  registerDecayingTag (name: string, interval: number, decay: DecayFn, bump: BumpFn): DecayingTag {
    this.assertOpen()
    return this.decayer.register(name, interval, decay, bump)
  }

  async trim (): Promise<void> {
    this.assertOpen()
    this.trimming.trim('watermark', 'explicit')
  }

  setTopicQuota (topic: string, quota: { min: number; max?: number } | undefined): void {
    check.nonEmptyString('topic', topic)
    if (quota !== undefined) check.topicQuota(quota)
    if (quota === undefined && this.closed) return // releasing: quiet after close
    this.assertOpen()
    this.topics.setQuota(topic, quota)
    this.trimming.quotasChanged()
    this.dialer.requestPass()
    this.exploration.schedule()
  }
}

/** Creates a connection manager. It is off until `start()`. */
export function createConnectionManager (options: ConnectionManagerOptions): ConnectionManager {
  return new Manager(options)
}
