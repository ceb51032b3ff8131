import { PLAIN_CELLS, type CellAllocator } from './cells.js'
import { describeRank, type RankKey } from './rank.js'
import type { Decision, DecisionAction, Priority } from './types.js'

/**
 * Writes the reason of a coded decision when it is read, from the numbers and the text the decision
 * kept (see `reasonCode`). Pure: called by every `explain()` that shows the decision.
 */
export type ReasonFormat = (a: number, b: number, c: number, text: string | undefined) => string

/**
 * The decisions `explain()` shows about the peers of one manager, in typed arrays: a record keeps
 * only the index of its newest decision and their count (a `Ref`: `PeerRecord` packs it into its
 * flags), each decision the index of the peer's one before. A decision object stored into a record
 * the garbage collector has promoted costs a remembered-set entry per store (a trim of 200 peers paid
 * ~85 ns a victim for it); numbers stored into typed arrays cost none, a decision is 56 bytes, not an
 * object, and appending one to a peer with one or two reads nothing of theirs (see `link`).
 *
 * Rules:
 * - A peer keeps its newest `depth` decisions (`explainDepth`): the one past it frees its oldest.
 * - A forgotten record's decisions are freed with it (`release`).
 * - The log starts small and grows by half up to `budget` decisions (default: `maxPeers × explainDepth`,
 *   at most `MAX_DECISIONS`). Below the budget a peer loses a decision only to its own newer ones;
 *   when every entry is taken, a new decision takes the place of a kept one in the order of their
 *   places (after one lap, the oldest first), whichever peer it was about: that peer then shows its
 *   decisions newer than the lost one. `dropped` counts them.
 * - A reason is a text (any string), a close for the peer's rank (`ranked`: a text shared by every
 *   victim of one trim, the place, the total and the rank, copied), or a code (`reasonCode`) with up
 *   to three numbers and a text; the last two are written only when read, the same text every time.
 */
export class DecisionLog {
  /** Decisions kept now (the `decisions` figure of `stats()`). */
  size = 0
  /** Decisions that lost their place past the budget, ever. */
  dropped = 0
  private cap = 0
  /** Places handed out so far; past them, the free list, then growth, then the hand. */
  private used = 0
  private hand = 0
  private stamps = 0
  /**
   * Per decision, 4 numbers — when, then `a`, `b`, `c` (a ranked close: place, total, tag value) —
   * and 6 integers (`OWNER`…`META`, below) side by side: what an append reads of the peer's newest
   * decision shares one cache line (a trim's victims are scattered over the log).
   */
  private nums = new Float64Array(0)
  private ints = new Int32Array(0)
  private free: number[] = []
  private readonly texts: Array<string | undefined> = []
  private textRefs: number[] = []
  private readonly textFree: number[] = []
  /** The text `share` handed out last, and its place: a trim's victims share one. */
  private lastShared: string | undefined = undefined
  private lastSlot = -1

  /** `cells`: where the log's arrays come from (a simulation's slabs: a few growths in each of 100,000 managers). */
  constructor (readonly budget = MAX_DECISIONS, private readonly cells: CellAllocator = PLAIN_CELLS) {
    if (!Number.isInteger(budget) || budget < 1 || budget > MAX_DECISIONS) throw new RangeError(`decision log budget must be an integer in 1..${MAX_DECISIONS}`)
  }

  /** Decisions the log has room for now (it grows up to `budget`). */
  get capacity (): number { return this.cap }

  /** Writes a decision with a text reason to the peer's (`ref`: see `Ref`; `seq`: its record's); returns the new ref. */
  textual (ref: number, seq: number, depth: number, at: number, action: DecisionAction, reason: string): number {
    return this.coded(ref, seq, depth, at, action, PLAIN, 0, 0, 0, reason)
  }

  /**
   * Writes a coded decision (`reasonCode`): `a`, `b`, `c` and `text` (optional) are what its format
   * reads. Returns the new ref.
   */
  coded (ref: number, seq: number, depth: number, at: number, action: DecisionAction, code: number, a: number, b: number, c: number, text?: string): number {
    const i = this.place()
    const f = i * NUMS
    this.nums[f + A] = a
    this.nums[f + B] = b
    this.nums[f + C] = c
    return this.link(ref, seq, depth, i, at, (code << 16) | (ACTION_CODE[action] << 8), text === undefined ? -1 : this.addText(text))
  }

  /**
   * Writes a close for the peer's rank: `shared` is the text before the place (one text for all the
   * victims of a trim), `position` the 1-based place among `total` (0: a single eviction), `value`
   * and `rank` (`rankBits`) the peer's rank, copied; `action` an `actionCode`. Returns the new ref.
   */
  ranked (ref: number, seq: number, depth: number, at: number, action: number, shared: string, position: number, total: number, value: number, rank: number): number {
    const slot = this.share(shared)
    const i = this.place()
    const f = i * NUMS
    this.nums[f + A] = position
    this.nums[f + B] = total
    this.nums[f + C] = value
    this.textRefs[slot]++
    return this.link(ref, seq, depth, i, at, (RANKED << 16) | (action << 8) | rank, slot)
  }

  /** The peer's decisions, oldest first; undefined when none. */
  read (ref: number, seq: number): Decision[] | undefined {
    const head = (ref >> 2) - 1
    const out: Decision[] = []
    for (let i = this.valid(head, seq) ? head : -1; i !== -1; i = this.next(i)) out.push(this.decision(i))
    return out.length === 0 ? undefined : out.reverse()
  }

  /** Frees the peer's decisions (a forgotten record). */
  release (ref: number, seq: number): void {
    const head = (ref >> 2) - 1
    let i = this.valid(head, seq) ? head : -1
    while (i !== -1) {
      const o = this.next(i)
      this.drop(i)
      this.free.push(i)
      i = o
    }
  }

  /**
   * Links the new decision `i` (its `meta` and text written) before the peer's newest and keeps the
   * newest `depth`. The peer's newest is read only when the ref does not tell its count (3 or more)
   * or some place was ever taken by the hand (it may be another peer's then): a trim's victims,
   * most with one or two decisions, were written long ago and are out of the cache.
   */
  private link (ref: number, seq: number, depth: number, i: number, at: number, meta: number, text: number): number {
    const { ints } = this
    const head = (ref >> 2) - 1
    let older = -1
    let n = 1
    if (head !== -1) {
      const known = ref & 3
      if (known < 3 && this.dropped === 0) {
        older = head
        n = known + 1
      } else if (this.valid(head, seq)) {
        older = head
        n = ints[head * INTS + COUNT] + 1
      }
    }
    const k = i * INTS
    this.nums[i * NUMS + AT] = at
    ints[k + OWNER] = seq | 0
    ints[k + OLDER] = older
    ints[k + COUNT] = n
    ints[k + TEXT] = text
    ints[k + STAMP] = this.stamps = (this.stamps + 1) | 0
    ints[k + META] = meta
    this.size++
    if (n > depth) n = this.keep(i, depth)
    return ((i + 1) << 2) | (n < 3 ? n : 3)
  }

  /** Keeps the newest `depth` of the peer whose newest is `i` (the count may overstate a chain the hand cut) and frees the rest. */
  private keep (i: number, depth: number): number {
    let last = i
    let kept = 1
    for (let k = this.next(i); k !== -1 && kept < depth; k = this.next(k)) { last = k; kept++ }
    let o = this.next(last)
    this.ints[last * INTS + OLDER] = -1
    while (o !== -1) {
      const after = this.next(o)
      this.drop(o)
      this.free.push(o)
      o = after
    }
    this.ints[i * INTS + COUNT] = kept
    return kept
  }

  /** A place for a new decision: a freed one, a new one (growing up to the budget), else the hand's. */
  private place (): number {
    if (this.free.length > 0) return this.free.pop()!
    if (this.used < this.cap) return this.used++
    if (this.cap < this.budget) {
      this.grow(Math.min(this.budget, Math.max(16, this.cap + (this.cap >> 1))))
      return this.used++
    }
    const i = this.hand
    this.hand = i + 1 === this.cap ? 0 : i + 1
    this.drop(i)
    this.dropped++
    return i
  }

  /** Empties place `i` (its peer's chain stops before it: its owner no longer matches). */
  private drop (i: number): void {
    this.ints[i * INTS + OWNER] = -1
    const t = this.ints[i * INTS + TEXT]
    if (t !== -1) this.unrefText(t)
    this.size--
  }

  private valid (i: number, seq: number): boolean {
    return i >= 0 && i < this.used && this.ints[i * INTS + OWNER] === (seq | 0)
  }

  /** The peer's decision before `i`, or -1 (none, or its place was taken since: then it is newer than `i`). */
  private next (i: number): number {
    const { ints } = this
    const o = ints[i * INTS + OLDER]
    return o !== -1 && ints[o * INTS + OWNER] === ints[i * INTS + OWNER] && ((ints[o * INTS + STAMP] - ints[i * INTS + STAMP]) | 0) < 0 ? o : -1
  }

  private decision (i: number): Decision {
    return { at: this.nums[i * NUMS + AT], action: ACTIONS[(this.ints[i * INTS + META] >> 8) & 255], reason: this.reason(i) }
  }

  private reason (i: number): string {
    const meta = this.ints[i * INTS + META]
    const code = meta >>> 16
    const t = this.ints[i * INTS + TEXT]
    const text = t === -1 ? undefined : this.texts[t]
    const a = this.nums[i * NUMS + A]
    const b = this.nums[i * NUMS + B]
    const c = this.nums[i * NUMS + C]
    if (code === PLAIN) return text ?? ''
    if (code === RANKED) return rankedReason(text ?? '', a, b, c, meta & 255)
    return FORMATS[code - FIRST_CODE](a, b, c, text)
  }

  /** The place of `text` shared by the decisions that name it next (one trim's victims): the same one while the text is the same string. */
  private share (text: string): number {
    if (text === this.lastShared && this.texts[this.lastSlot] === text) return this.lastSlot
    if (this.lastSlot !== -1 && this.textRefs[this.lastSlot] === 0 && this.texts[this.lastSlot] === this.lastShared) this.freeText(this.lastSlot)
    this.lastShared = text
    this.lastSlot = this.newText(text, 0)
    return this.lastSlot
  }

  private addText (text: string): number {
    return this.newText(text, 1)
  }

  private newText (text: string, refs: number): number {
    const slot = this.textFree.length > 0 ? this.textFree.pop()! : this.texts.length
    this.texts[slot] = text
    this.textRefs[slot] = refs
    return slot
  }

  private unrefText (slot: number): void {
    if (--this.textRefs[slot] === 0 && slot !== this.lastSlot) this.freeText(slot)
  }

  private freeText (slot: number): void {
    this.texts[slot] = undefined
    this.textFree.push(slot)
    if (slot === this.lastSlot) {
      this.lastSlot = -1
      this.lastShared = undefined
    }
  }

  private grow (cap: number): void {
    const nums = this.cells.float64(cap * NUMS)
    nums.set(this.nums)
    this.cells.release(this.nums)
    this.nums = nums
    const ints = this.cells.int32(cap * INTS)
    ints.set(this.ints)
    this.cells.release(this.ints)
    this.ints = ints
    this.cap = cap
  }
}

/** The code of a decision's action, for `DecisionLog.ranked`. */
export function actionCode (action: DecisionAction): number { return ACTION_CODE[action] }

/** A rank's class and flags in one small integer (`DecisionLog.ranked`); its tag value is kept beside it. */
export function rankBits (rank: RankKey): number {
  const p = rank.priority
  return (p === 'medium' ? 2 : p === 'high' ? 3 : p === 'low' ? 1 : 0) | (rank.longTerm ? LONG_TERM : 0) | (rank.idle ? IDLE : 0) | (rank.inbound ? INBOUND : 0)
}

/**
 * The reason of a close for the peer's rank: `${head}${position} of ${total} lowest-ranked (${rank})`
 * when `position` > 0, else `${head}${rank})` (the head ends with its opening parenthesis).
 */
export function rankedReason (head: string, position: number, total: number, value: number, bits: number): string {
  const rank: RankKey = { priority: PRIORITIES[bits & 3], longTerm: (bits & LONG_TERM) !== 0, value, idle: (bits & IDLE) !== 0, inbound: (bits & INBOUND) !== 0, openedAt: 0 }
  return position > 0 ? `${head}${position} of ${total} lowest-ranked (${describeRank(rank)})` : `${head}${describeRank(rank)})`
}

/**
 * Registers the format of a coded reason and returns its code, for `PeerRecord.decideCode` (the
 * numbers and the text a decision keeps are formatted only when `explain()` reads it). Call once per
 * kind of reason, at module load: codes are the program's, shared by every manager.
 */
export function reasonCode (format: ReasonFormat): number {
  if (FORMATS.length + FIRST_CODE > 0x7fff) throw new RangeError('too many reason codes')
  FORMATS.push(format)
  return FIRST_CODE + FORMATS.length - 1
}

/** The most decisions one log keeps: a record packs its `Ref` (the index of its newest and a count) into 21 bits of its flags. */
export const MAX_DECISIONS = (1 << 19) - 1

/**
 * How a record points at its decisions: (index of its newest + 1) × 4 + its count of decisions
 * up to 3 (3: three or more); 0 when it has none. At most 2^21 - 1.
 */
export type Ref = number

const PLAIN = 0
const RANKED = 1
const FIRST_CODE = 2
const FORMATS: ReasonFormat[] = []
const ACTIONS: DecisionAction[] = ['accept', 'refuse', 'trim', 'close', 'disconnected', 'evict', 'dial', 'dial-failed', 'backoff', 'merge', 'priority', 'ban', 'hook-error', 'protect', 'unprotect']
const ACTION_CODE: Record<DecisionAction, number> = {
  accept: 0, refuse: 1, trim: 2, close: 3, disconnected: 4, evict: 5, dial: 6, 'dial-failed': 7, backoff: 8, merge: 9, priority: 10, ban: 11, 'hook-error': 12, protect: 13, unprotect: 14
}
/** By `priorityRank`. */
const PRIORITIES: Priority[] = ['banned', 'low', 'medium', 'high']
const NUMS = 4
const AT = 0
const A = 1
const B = 2
const C = 3
const INTS = 6
/** The record's `seq` (-1: the place is free). */
const OWNER = 0
/** The peer's decision before, -1 when none. */
const OLDER = 1
/** The peer's decisions up to this one (an upper bound once the hand took one). */
const COUNT = 2
/** Its text's place, -1 when none. */
const TEXT = 3
/** When the place was written (a place re-used since a link to it was made is newer than its successor). */
const STAMP = 4
/** code << 16 | action << 8 | the rank's flags (a ranked close). */
const META = 5
const LONG_TERM = 4
const IDLE = 8
const INBOUND = 16
