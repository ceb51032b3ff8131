/**
 * A naive connection manager with peerwarden's rules and go-libp2p connmgr's data structures: one
 * map of peers and nothing else. The reference the core benchmarks divide by, so that the ratio
 * shows what the indexes buy on the machine at hand.
 *
 * Rules (the same as peerwarden's, the algorithms go-libp2p's `BasicConnMgr` uses):
 * - the peers live in one `Map`; a connection sets `record.conn`;
 * - `trim()` copies the trimmable connected peers (unprotected, past the grace period) into an array,
 *   sorts it with `compareTrimRank` (a full sort at every trim, as `getConnsToClose` does) and closes
 *   the lowest ranked until `lowWater`;
 * - an inbound connection at `highWater` scans every peer for the eviction victim: the lowest-ranked
 *   trimmable peer whose priority is not above the newcomer's (the admission rule);
 * - the next dial scans every known peer for the best candidates (`compareCandidates`) that are not
 *   connected, not banned and not in backoff.
 */
import { compareCandidates } from '../../src/manager/dial-order.js'
import { PeerRecord } from '../../src/manager/peer-record.js'
import { compareTrimRank, priorityRank } from '../../src/manager/rank.js'
import type { Connection } from '../../src/index.js'

export class NaiveConnMgr {
  readonly peers = new Map<string, PeerRecord>()
  connections = 0

  constructor (readonly lowWater: number, readonly highWater: number, readonly gracePeriod: number, readonly now: () => number) {}

  private record (peer: string): PeerRecord {
    let r = this.peers.get(peer)
    if (r === undefined) {
      r = new PeerRecord(peer, peer, this.now())
      this.peers.set(peer, r)
    }
    return r
  }

  /** Adds known peers (not connected). */
  addPeers (ids: string[]): void { for (const id of ids) this.record(id) }

  tagPeer (peer: string, value: number): void { this.record(peer).value = value }

  private trimmable (r: PeerRecord, now: number): boolean {
    return r.conn !== undefined && !r.isProtected && r.priority !== 'banned' && now - r.openedAt >= this.gracePeriod
  }

  /** An inbound connection; false when refused at the bound. */
  connected (conn: Connection): boolean {
    const now = this.now()
    const r = this.record(conn.peer)
    if (r.conn !== undefined) return false
    if (this.connections >= this.highWater) {
      let victim: PeerRecord | undefined
      const limit = priorityRank(r.priority)
      for (const q of this.peers.values()) {
        if (!this.trimmable(q, now) || priorityRank(q.priority) > limit) continue
        if (victim === undefined || compareTrimRank(q, victim) < 0) victim = q
      }
      if (victim === undefined) { conn.close('full'); return false }
      this.close(victim, 'trimmed')
    }
    r.conn = { conn, record: r, openedAt: now }
    r.openedAt = now
    r.inbound = conn.direction === 'inbound'
    r.lastConnected = now
    this.connections++
    return true
  }

  private close (r: PeerRecord, reason: string): void {
    const c = r.conn!
    r.conn = undefined
    this.connections--
    void c.conn.close(reason)
  }

  /** Closes the lowest-ranked trimmable peers down to lowWater; returns how many closed. */
  trim (): number {
    const now = this.now()
    const candidates: PeerRecord[] = []
    for (const r of this.peers.values()) {
      if (!this.trimmable(r, now)) continue
      const s = r.conn!.conn.streams
      r.idle = s === undefined || s === 0
      candidates.push(r)
    }
    candidates.sort(compareTrimRank)
    const n = Math.max(0, Math.min(candidates.length - this.lowWater, this.connections - this.lowWater))
    for (let i = 0; i < n; i++) this.close(candidates[i], 'trimmed')
    return n
  }

  /** The best `k` peers to dial now, by a scan of every known peer. */
  nextDials (k: number): PeerRecord[] {
    const now = this.now()
    const best: PeerRecord[] = []
    const compare = (a: PeerRecord, b: PeerRecord): number => compareCandidates(a, b, noTopics)
    for (const r of this.peers.values()) {
      if (r.conn !== undefined || r.priority === 'banned' || (r.nextDialAt !== undefined && r.nextDialAt > now)) continue
      if (best.length === k && compare(r, best[k - 1]) >= 0) continue
      let i = best.length === k ? k - 1 : best.length
      if (best.length < k) best.push(r)
      while (i > 0 && compare(r, best[i - 1]) < 0) { best[i] = best[i - 1]; i-- }
      best[i] = r
    }
    return best
  }
}

const noTopics = (): boolean => false
