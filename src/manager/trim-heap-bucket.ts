/** A run's place of a peer that left it (a tombstone). */
const GONE = -1
/** Tombstones a run keeps before it is compacted (and at most half of it). */
const DEAD_SLACK = 32
/** Out-of-order members a bucket keeps in its side heap before it sorts them into its run (and at most half of it). */
const PENDING_SLACK = 32

/**
 * The members of one rank bucket of `TrimBuckets` (trim-heap-buckets.ts): peers whose trim rank
 * differs only in their connection's age, newest first. Members are slots (the container's); each
 * slot's place is written into the container's `at` array, which every mutating call receives.
 *
 * Rules:
 * - A member that is not older than the newest one joins the run (`run`, oldest first, newest last):
 *   peers enter when their grace period ends, in opening order, so that is the usual case; the
 *   newest leaves by a pop, O(1). A member that left the middle of the run leaves a tombstone there;
 *   the run never ends with one, and is compacted when they are many (amortised O(1)).
 * - An older member (a peer that moved here when its tags or streams changed) waits in a side heap
 *   (`pend`, newest on top, O(log p)); when the side heap holds more than the run, both are sorted
 *   into one run again (amortised O(log s) per member).
 * - Among exactly equal opening times the run's member goes first, then the last appended.
 * - `at[slot]` is the member's index in the run (>= 0) or `~index` in the side heap (< 0).
 */
export class RankBucket {
  /** This bucket's place in the container's heap of buckets. */
  hpos = -1
  /** The rank class and flags, as `classOf` packs them (`class << 2 | flags`). */
  cf = 0
  /** The members' tag value. */
  value = 0
  /** Members in opening order, newest last; GONE where one left. Never ends with GONE. */
  private run: number[] = []
  /** Each run entry's opening time. */
  private runAt: number[] = []
  private dead = 0
  /** Members older than the run's newest when they joined: a max-heap by opening time. */
  private pend: number[] = []
  private pendAt: number[] = []
  /** How many members. */
  size = 0

  /** Empties the bucket for reuse under another key. */
  reset (cf: number, value: number): void {
    this.cf = cf
    this.value = value
    this.run.length = 0
    this.runAt.length = 0
    this.pend.length = 0
    this.pendAt.length = 0
    this.dead = 0
    this.size = 0
    this.hpos = -1
  }

  /** Adds `slot`, opened at `t`. */
  add (slot: number, t: number, at: Int32Array): void {
    this.size++
    const { run, runAt } = this
    if (run.length === 0 || t >= runAt[run.length - 1]) {
      at[slot] = run.length
      run.push(slot)
      runAt.push(t)
      return
    }
    this.pend.push(slot)
    this.pendAt.push(t)
    this.pendUp(this.pend.length - 1, at)
    if (this.pend.length > PENDING_SLACK && this.pend.length * 2 > this.size) this.settle(at)
  }

  /** The member's opening time as the bucket holds it. */
  openedAt (slot: number, at: Int32Array): number {
    const i = at[slot]
    return i >= 0 ? this.runAt[i] : this.pendAt[~i]
  }

  /** Removes `slot` (a member). */
  remove (slot: number, at: Int32Array): void {
    this.size--
    const i = at[slot]
    if (i < 0) {
      this.pendRemove(~i, at)
      return
    }
    const { run } = this
    run[i] = GONE
    this.dead++
    if (i === run.length - 1) this.trimTail()
    else if (this.dead > DEAD_SLACK && this.dead * 2 > run.length) this.compact(at)
  }

  /** The newest member (the first in trim order); the bucket must not be empty. */
  newest (): number {
    return this.fromRun() ? this.run[this.run.length - 1] : this.pend[0]
  }

  /** Takes the newest member out and returns it; the bucket must not be empty. */
  popNewest (at: Int32Array): number {
    this.size--
    if (this.fromRun()) {
      const slot = this.run.pop()!
      this.runAt.pop()
      this.trimTail()
      return slot
    }
    const slot = this.pend[0]
    this.pendRemove(0, at)
    return slot
  }

  /** The members, newest first (trim order). The bucket must not change while iterating. */
  * newestFirst (): Generator<number> {
    const { run, runAt } = this
    // The side heap sorted once, newest first, merged with the run read backwards.
    const order = this.pend.map((_, j) => j).sort((a, b) => this.pendAt[b] - this.pendAt[a])
    let j = 0
    for (let i = run.length - 1; i >= 0; i--) {
      if (run[i] === GONE) continue
      while (j < order.length && this.pendAt[order[j]] > runAt[i]) yield this.pend[order[j++]]
      yield run[i]
    }
    while (j < order.length) yield this.pend[order[j++]]
  }

  /** Whether the newest member is the run's (ties: the run's). */
  private fromRun (): boolean {
    const n = this.run.length
    return n > 0 && (this.pend.length === 0 || this.runAt[n - 1] >= this.pendAt[0])
  }

  private trimTail (): void {
    const { run, runAt } = this
    while (run.length > 0 && run[run.length - 1] === GONE) {
      run.pop()
      runAt.pop()
      this.dead--
    }
  }

  /** Drops the run's tombstones. */
  private compact (at: Int32Array): void {
    const { run, runAt } = this
    let j = 0
    for (let i = 0; i < run.length; i++) {
      if (run[i] === GONE) continue
      run[j] = run[i]
      runAt[j] = runAt[i]
      at[run[j]] = j
      j++
    }
    run.length = j
    runAt.length = j
    this.dead = 0
  }

  /** Sorts the side heap's members into the run: one run again. */
  private settle (at: Int32Array): void {
    const slots: number[] = []
    const times: number[] = []
    for (let i = 0; i < this.run.length; i++) {
      if (this.run[i] !== GONE) { slots.push(this.run[i]); times.push(this.runAt[i]) }
    }
    for (let j = 0; j < this.pend.length; j++) { slots.push(this.pend[j]); times.push(this.pendAt[j]) }
    // Stable: equal times keep the run's order before the side heap's.
    const order = slots.map((_, i) => i).sort((a, b) => times[a] - times[b])
    this.run = order.map((i) => slots[i])
    this.runAt = order.map((i) => times[i])
    for (let i = 0; i < this.run.length; i++) at[this.run[i]] = i
    this.pend.length = 0
    this.pendAt.length = 0
    this.dead = 0
  }

  private pendRemove (j: number, at: Int32Array): void {
    const { pend, pendAt } = this
    const slot = pend.pop()!
    const t = pendAt.pop()!
    if (j === pend.length) return
    pend[j] = slot
    pendAt[j] = t
    at[slot] = ~j
    if (!this.pendUp(j, at)) this.pendDown(j, at)
  }

  private pendUp (j: number, at: Int32Array): boolean {
    const { pend, pendAt } = this
    const slot = pend[j]
    const t = pendAt[j]
    const from = j
    while (j > 0) {
      const p = (j - 1) >> 1
      if (pendAt[p] >= t) break
      pend[j] = pend[p]
      pendAt[j] = pendAt[p]
      at[pend[j]] = ~j
      j = p
    }
    pend[j] = slot
    pendAt[j] = t
    at[slot] = ~j
    return j !== from
  }

  private pendDown (j: number, at: Int32Array): void {
    const { pend, pendAt } = this
    const n = pend.length
    const slot = pend[j]
    const t = pendAt[j]
    for (;;) {
      const l = 2 * j + 1
      if (l >= n) break
      const c = l + 1 < n && pendAt[l + 1] > pendAt[l] ? l + 1 : l
      if (pendAt[c] <= t) break
      pend[j] = pend[c]
      pendAt[j] = pendAt[c]
      at[pend[j]] = ~j
      j = c
    }
    pend[j] = slot
    pendAt[j] = t
    at[slot] = ~j
  }
}
