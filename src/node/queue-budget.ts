import { addressRange } from '../manager/address-range.js'

/**
 * Default `maxQueuedBytesTotal` (256 MiB): bytes queued on all connections together, both ways —
 * decrypted and waiting for a paused connection to read them (its paused queue: `maxQueuedBytes` and
 * one message each) and sealed and waiting for a peer to read them (its socket's buffer:
 * `maxWriteQueueBytes`, up to four times that while the peer reads slowly).
 */
export const DEFAULT_MAX_QUEUED_BYTES_TOTAL = 256 * 1024 * 1024

/** A stream that holds queued bytes (secure-stream.ts). */
export interface QueueHolder {
  /** The remote host, for the range it is counted in (undefined: its own range). */
  readonly remoteHost: string | undefined
  /** The budget ends it: the holder closes ('over-budget') and drops what it queued. Must not throw. */
  overQueueBudget (why: string): void
}

/** One holder's queued bytes, each way, and its range (named once per holder: see `QueueBudget.count`). */
interface Held { read: number; write: number; readonly range: string }

/**
 * Which holder gives way when the queues of all connections pass the budget: the largest holder of
 * the address range (an IPv4 /24, an IPv6 /48) that holds the most bytes in all, the latest counted
 * on a tie (of ranges, of holders). By range first, so that many connections from one range, each
 * holding a little, make their own range the one to give way — not an honest slow reader elsewhere
 * that holds more than any one of them. The latest on a tie: newcomers that merely match what an
 * honest holder held before them cannot make it the one to go.
 */
export function selectQueueVictim<H> (held: ReadonlyMap<H, Held>): H | undefined {
  const byRange = new Map<string, number>()
  for (const h of held.values()) byRange.set(h.range, (byRange.get(h.range) ?? 0) + h.read + h.write)
  let range: string | undefined
  let most = -1
  for (const [r, bytes] of byRange) if (bytes >= most) { most = bytes; range = r }
  let victim: H | undefined
  let largest = -1
  for (const [holder, h] of held) {
    // On a tie the latest counted (the Map's order) goes.
    if (h.range === range && h.read + h.write >= largest) { largest = h.read + h.write; victim = holder }
  }
  return victim
}

/**
 * The bytes a node holds in queues to and from its peers, across all its connections.
 *
 * Rules:
 * - Each connection's queues have their own budgets (`maxQueuedBytes` read, `maxWriteQueueBytes`
 *   written); this one bounds them all together: a peer with many connections that stops reading
 *   (or that we stop reading) must not hold the node's memory.
 * - Past `maxQueuedBytesTotal`, the largest holder of the range holding the most gives way
 *   (`selectQueueVictim`): its connection closes 'over-budget' and drops its queues; then the next,
 *   until the total is within the budget. A holder alone is never ended for the budget (one
 *   connection's own budgets hold it).
 * - The written side is counted when a write finds the socket's buffer full (past 256 KiB) and
 *   uncounted at 'drain': a reader that keeps up is never counted at all.
 * - The check (`enforce`) runs after a read, and after a write in a microtask (never inside the
 *   writer's call stack: a handler, a flush).
 * - A holder's range is named once, the first time it holds bytes, and kept with it until it is
 *   forgotten: a bulk sender starts holding again after every 'drain', and naming the range each time
 *   (its address parsed again) cost the sender throughput.
 */
export class QueueBudget {
  /** Connections closed ('over-budget') to bring the total within the budget. */
  overBudgetCloses = 0
  private total = 0
  /** The holders that hold bytes now, in the order they started to (the latest last: see `selectQueueVictim`). */
  private readonly held = new Map<QueueHolder, Held>()
  /** Every holder's record once it held bytes, holding now or not (its range named once). */
  private readonly records = new WeakMap<QueueHolder, Held>()
  private scheduled = false
  /** Names the range of a holder without a host (each its own). */
  private serial = 0

  constructor (readonly maxBytes: number) {}

  /** Bytes counted now. */
  get holding (): number { return this.total }

  /** `holder` queues `bytes` now on one side (0: none). */
  count (holder: QueueHolder, side: 'read' | 'write', bytes: number): void {
    let h = this.held.get(holder)
    if (h === undefined) {
      if (bytes === 0) return
      h = this.records.get(holder)
      if (h === undefined) {
        const host = holder.remoteHost
        h = { read: 0, write: 0, range: host === undefined ? `holder:${++this.serial}` : addressRange(host) ?? host }
        this.records.set(holder, h)
      }
      this.held.set(holder, h)
    }
    this.total += bytes - h[side]
    h[side] = bytes
    if (h.read === 0 && h.write === 0) this.held.delete(holder)
  }

  /** Stops counting `holder` (it closed). */
  forget (holder: QueueHolder): void {
    this.records.delete(holder)
    const h = this.held.get(holder)
    if (h === undefined) return
    this.total -= h.read + h.write
    h.read = h.write = 0
    this.held.delete(holder)
  }

  /** Whether the total passed the budget. */
  get over (): boolean { return this.total > this.maxBytes }

  /** Runs `enforce` in a microtask (once however many writes asked). */
  enforceSoon (): void {
    if (this.scheduled) return
    this.scheduled = true
    queueMicrotask(() => { this.scheduled = false; this.enforce() })
  }

  /** Ends holders while the total is over the budget, never the last one. */
  enforce (): void {
    while (this.total > this.maxBytes && this.held.size > 1) {
      const victim = selectQueueVictim(this.held)!
      const h = this.held.get(victim)!
      const bytes = h.read + h.write
      this.forget(victim)
      this.overBudgetCloses++
      victim.overQueueBudget(`${this.total + bytes} bytes queued to and from peers (budget ${this.maxBytes}): a connection holding ${bytes} of them gave way`)
    }
  }

  /** Stops counting everything (the transport closed). */
  clear (): void {
    for (const h of this.held.values()) h.read = h.write = 0
    this.held.clear()
    this.total = 0
  }
}
