import type { Clock } from '../manager/types.js'
import type { DirectoryEntry, NoticeStats } from './registry-types.js'

/** A member's notices go out at most once per this many ms (the latest state wins). */
export const NOTICE_INTERVAL = 500

/** Members whose last notice is remembered at most (each for `NOTICE_INTERVAL` ms after it went out). */
export const MAX_NOTICE_MEMBERS = 8192

/** What the registry tells a member's watchers: it joined (with its entry) or it left. */
export type MemberNotice = { t: 'joined'; entry: DirectoryEntry } | { t: 'left'; peer: string; role: string }

interface Slot { at: number; last: MemberNotice; pending?: MemberNotice; timer?: unknown }

/**
 * The registry's joined/left notices, coalesced per member: a member that flaps its registration
 * (registers, goes, registers again) would otherwise cost a notice to every one of its watchers on
 * each flap — an amplification.
 *
 * Rules:
 * - A member's first notice, or one `NOTICE_INTERVAL` (500 ms) or more after its previous one, goes
 *   out at once. A notice sooner waits until `NOTICE_INTERVAL` after the previous one went out; a
 *   later state of the same member replaces it (latest wins: at most one notice per member per
 *   `NOTICE_INTERVAL`). When it is due and says what the watchers last heard of that member (the
 *   same 'left', or a 'joined' with the same entry), it is dropped.
 * - Who hears it is decided when it goes out (`broadcast`): the members related to it then. A
 *   member that registered meanwhile got the directory as it was, so the notice agrees with it.
 * - A budget: `MAX_NOTICE_MEMBERS` members remembered, each until `NOTICE_INTERVAL` after its last
 *   notice with none waiting. Past it the member remembered longest goes: its waiting notice, if
 *   any, goes out at once (`overBudget`).
 */
export class RegistryNotices {
  private readonly slots = new Map<string, Slot>()
  private readonly counts = { sent: 0, coalesced: 0, unchanged: 0, overBudget: 0 }
  private closed = false

  constructor (private readonly clock: Clock, private readonly broadcast: (notice: MemberNotice) => void, private readonly maxMembers = MAX_NOTICE_MEMBERS) {}

  /** A member's new state: broadcast now, or when its interval ends (see the rules). */
  notify (notice: MemberNotice): void {
    if (this.closed) return
    const peer = peerOf(notice)
    const now = this.clock.now()
    const slot = this.slots.get(peer)
    if (slot === undefined || (slot.pending === undefined && now - slot.at >= NOTICE_INTERVAL)) {
      this.send(peer, notice, now)
      return
    }
    if (slot.pending !== undefined) this.counts.coalesced++
    slot.pending = notice
    slot.timer ??= this.clock.setTimeout(() => { this.due(peer) }, Math.max(0, slot.at + NOTICE_INTERVAL - now))
  }

  /** The figures of the rules above. */
  stats (): NoticeStats {
    let waiting = 0
    for (const s of this.slots.values()) if (s.pending !== undefined) waiting++
    return { ...this.counts, waiting }
  }

  /** Drops every waiting notice and its timer (the registry closes). */
  close (): void {
    this.closed = true
    for (const s of this.slots.values()) this.clock.clearTimeout(s.timer)
    this.slots.clear()
  }

  private due (peer: string): void {
    const slot = this.slots.get(peer)
    if (slot?.pending === undefined) return
    const notice = slot.pending
    slot.pending = undefined
    slot.timer = undefined
    if (same(notice, slot.last)) { this.counts.unchanged++; return }
    this.send(peer, notice, this.clock.now())
  }

  private send (peer: string, notice: MemberNotice, now: number): void {
    this.slots.delete(peer)
    // Oldest first (re-inserted on each notice): the expired ones, then the oldest while over budget.
    for (const [k, s] of this.slots) {
      if (s.pending !== undefined || now - s.at < NOTICE_INTERVAL) {
        if (this.slots.size < this.maxMembers) break
        if (s.pending !== undefined) {
          this.counts.overBudget++
          this.clock.clearTimeout(s.timer)
          this.slots.delete(k)
          this.out(s.pending)
          continue
        }
      }
      this.slots.delete(k)
    }
    this.slots.set(peer, { at: now, last: notice })
    this.out(notice)
  }

  private out (notice: MemberNotice): void {
    this.counts.sent++
    this.broadcast(notice)
  }
}

function peerOf (n: MemberNotice): string {
  return n.t === 'joined' ? n.entry.peer : n.peer
}

/** Whether two notices say the same of a member (a 'joined' with an equal entry, or both 'left'). */
function same (a: MemberNotice, b: MemberNotice): boolean {
  if (a.t === 'left' || b.t === 'left') return a.t === b.t
  return JSON.stringify(a.entry) === JSON.stringify(b.entry)
}
