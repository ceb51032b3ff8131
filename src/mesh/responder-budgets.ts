/**
 * What the serving side of a mesh node lets wait and run (responder.ts): its budgets and its
 * commands' bulkheads. Peers are hostile: every table here has a bound.
 *
 * Rules (a call is checked in this order; the first budget it does not fit refuses it ERR_BUSY at
 * once, before it is acked, and its handler does not run):
 * - Bulkhead: a command with `concurrency` runs at most that many calls at once, over all callers;
 *   up to `maxQueueSize` more wait (in arrival order), the next is refused. A slot frees when its
 *   handler settles or is released; a waiting call nobody waits for any more (deadline passed,
 *   channel closed) is dropped when its turn comes.
 * - `maxQueuedBytes` (64 MiB): arguments (their JSON) waiting in all, queued messages and calls
 *   waiting for a bulkhead's slot together (a call alone always fits). Measured only for a call
 *   that will wait; arguments too deeply nested to measure are ERR_INVALID_ARGUMENT.
 * - `maxPeerBytes` (32 MiB): the messages one peer's calls came in, held while they run or wait
 *   (peer-bytes.ts).
 * - `maxQueued` (10 000): messages of one queued command waiting; `maxRunning` (1024): calls of one
 *   channel running (commands not queued).
 * - A peer's share of a queued command's queue, and of a bulkhead's waiting calls (`overShare`): it
 *   may add one only while what it holds there is under half of the places the other peers leave
 *   free (alone: half the queue; with one other holding 5 of 10, 3). One certified caller that
 *   filled the queue behind a slow message refused every other caller; now the others always find
 *   room (`queueShareRefused` counts the refusals). Counted per peer id (one node's channels
 *   together), released when the message starts or the waiting call leaves.
 */

import type { Instance } from './instance.js'
import { DEFAULT_BYTES_PER_PEER, PeerBytes, type Charge } from './peer-bytes.js'
import type { RpcMessage } from './messages.js'
import type { Command, Handler } from './schema.js'

/** A call message, as the responder serves it. */
export type CallMessage = Extract<RpcMessage, { t: 'call' }>

/** A call waiting for a slot of its command's bulkhead. */
export interface Waiting { msg: CallMessage; args: unknown; from: Instance; handler: Handler; bytes: number; release: () => void }

/** One command's bulkhead: calls running, and those waiting for a slot (and how many of them each peer has). */
interface Bulkhead { active: number; waiting: Waiting[]; byPeer: Map<string, number> }

/** Calls one channel may have running at once, by default. */
export const DEFAULT_MAX_RUNNING = 1024
/** Messages of one queued command waiting, by default. */
export const DEFAULT_MAX_QUEUED = 10_000
/** Bytes of arguments waiting in all, by default. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024

/** The budgets' bounds; each has its default. */
export interface BudgetLimits { maxRunning?: number; maxQueued?: number; maxQueuedBytes?: number; maxPeerBytes?: number }

/** A call admitted: `bytes` of its arguments wait here; it `waits` for a bulkhead slot, or `runs` in one (or needs none). */
export interface Admitted { bytes: number; waits: boolean; bulkhead: boolean }

/** A call refused: its answer. */
export interface Refused { refused: true; message: string; code: 'ERR_BUSY' | 'ERR_INVALID_ARGUMENT' }

/** The budgets and bulkheads of one responder (rules at the top of this file). */
export class ResponderBudgets {
  private readonly bulkheads = new Map<string, Bulkhead>()
  /** Queued messages not yet started, by command: how many, and how many of them each peer sent (emptied as they start). */
  private readonly waiting = new Map<string, { count: number; byPeer: Map<string, number> }>()
  /** Queued messages refused because their peer held its share of the command's queue. */
  queueShareRefused = 0
  private readonly maxRunning: number
  private readonly maxQueued: number
  private readonly maxQueuedBytes: number
  /** Bytes of arguments waiting (queued messages not started, calls waiting for a bulkhead's slot). */
  queuedBytes = 0
  /** What each peer's calls keep here (peer-bytes.ts). */
  readonly peerBytes: PeerBytes

  constructor (limits: BudgetLimits) {
    this.maxRunning = limits.maxRunning ?? DEFAULT_MAX_RUNNING
    this.maxQueued = limits.maxQueued ?? DEFAULT_MAX_QUEUED
    this.maxQueuedBytes = limits.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES
    this.peerBytes = new PeerBytes(limits.maxPeerBytes ?? DEFAULT_BYTES_PER_PEER)
  }

  /** Queued messages (in memory) waiting for their turn, over all commands, and calls waiting for a bulkhead's slot. */
  get queued (): number {
    let n = 0
    for (const w of this.waiting.values()) n += w.count
    for (const b of this.bulkheads.values()) n += b.waiting.length
    return n
  }

  /**
   * Checks a call against every budget, in the order of the rules. Admitted, a queued command's
   * message is counted waiting at once; `take` then holds its bytes.
   */
  admit (me: string, msg: CallMessage, from: Instance, command: Command, args: unknown, charge: Charge | undefined): Admitted | Refused {
    let bulkhead: Bulkhead | undefined
    if (command.concurrency !== Infinity) {
      bulkhead = this.bulkheads.get(command.name)
      if (bulkhead === undefined) this.bulkheads.set(command.name, bulkhead = { active: 0, waiting: [], byPeer: new Map() })
      if (bulkhead.active >= command.concurrency && bulkhead.waiting.length >= command.maxQueueSize) {
        return busy(`${me}.${msg.cmd} runs ${command.concurrency} calls at once and has ${command.maxQueueSize} waiting (its bulkhead is full)`)
      }
      if (bulkhead.active >= command.concurrency) {
        const over = overShare(bulkhead.byPeer.get(from.peer) ?? 0, bulkhead.waiting.length, command.maxQueueSize)
        if (over !== undefined) {
          this.queueShareRefused++
          return busy(`${from.role}/${from.variant} ${over} of ${me}.${msg.cmd}'s bulkhead`)
        }
      }
    }
    // What waits here holds its arguments: measured (their JSON) only for a call that will wait.
    const waitsForSlot = bulkhead !== undefined && bulkhead.active >= command.concurrency
    const waits = command.queued || waitsForSlot
    const bytes = waits ? jsonBytes(args) : 0
    if (bytes === undefined) return { refused: true, message: `${me}.${msg.cmd}: arguments nested too deeply`, code: 'ERR_INVALID_ARGUMENT' }
    if (waits && this.queuedBytes > 0 && this.queuedBytes + bytes > this.maxQueuedBytes) {
      return busy(`${me} holds ${this.queuedBytes} bytes of waiting arguments (at most ${this.maxQueuedBytes})`)
    }
    if (charge !== undefined && !this.peerBytes.fits(from, charge)) {
      this.peerBytes.refused++
      return busy(`${from.role}/${from.variant} keeps ${from.heldBytes} bytes of calls on ${me} (at most ${this.peerBytes.max})`)
    }
    if (command.queued) {
      let queue = this.waiting.get(msg.cmd)
      if (queue === undefined) this.waiting.set(msg.cmd, queue = { count: 0, byPeer: new Map() })
      if (queue.count >= this.maxQueued) return busy(`${me}.${msg.cmd}'s queue is full (${this.maxQueued} messages)`)
      const over = overShare(queue.byPeer.get(from.peer) ?? 0, queue.count, this.maxQueued)
      if (over !== undefined) {
        this.queueShareRefused++
        return busy(`${from.role}/${from.variant} ${over} of ${me}.${msg.cmd}'s queue`)
      }
      queue.count++
      join(queue.byPeer, from.peer)
    } else if (from.running.size >= this.maxRunning) {
      return busy(`${from.role}/${from.variant} has ${this.maxRunning} calls running on ${me}`)
    }
    return { bytes, waits: !command.queued && waitsForSlot, bulkhead: bulkhead !== undefined }
  }

  /** An admitted call is accepted: its waiting bytes and its message's bytes are held. Returns what frees the message's bytes. */
  take (from: Instance, charge: Charge | undefined, bytes: number): () => void {
    this.queuedBytes += bytes
    return charge === undefined ? noop : this.peerBytes.hold(from, charge)
  }

  /** A queued command's message from `peer` starts: it waits no more. */
  started (cmd: string, peer: string, bytes: number): void {
    const queue = this.waiting.get(cmd)!
    queue.count--
    leave(queue.byPeer, peer)
    this.queuedBytes -= bytes
  }

  /** A call waits for a slot of `command`'s bulkhead. */
  enqueue (command: Command, call: Waiting): void {
    const bulkhead = this.bulkheads.get(command.name)!
    bulkhead.waiting.push(call)
    join(bulkhead.byPeer, call.from.peer)
  }

  /** A call takes a slot of `command`'s bulkhead (if it has one). */
  occupy (command: Command): void {
    const bulkhead = command.concurrency === Infinity ? undefined : this.bulkheads.get(command.name)
    if (bulkhead !== undefined) bulkhead.active++
  }

  /**
   * A call of `command` ended: its slot goes to the next waiting call still `wanted` (returned, its
   * slot taken); those nobody waits for are `dropped` on the way.
   */
  freed (command: Command, wanted: (w: Waiting) => boolean, dropped: (w: Waiting) => void): Waiting | undefined {
    const bulkhead = command.concurrency === Infinity ? undefined : this.bulkheads.get(command.name)
    if (bulkhead === undefined) return undefined
    bulkhead.active--
    for (let next = bulkhead.waiting.shift(); next !== undefined; next = bulkhead.waiting.shift()) {
      this.queuedBytes -= next.bytes
      leave(bulkhead.byPeer, next.from.peer)
      if (!wanted(next)) { dropped(next); continue }
      bulkhead.active++
      return next
    }
    return undefined
  }

  /** The node closes: every call waiting for a slot is dropped (returned; its bytes are no longer counted). */
  dropWaiting (): Waiting[] {
    const dropped: Waiting[] = []
    for (const b of this.bulkheads.values()) {
      for (const w of b.waiting) { this.queuedBytes -= w.bytes; dropped.push(w) }
      b.waiting.length = 0
      b.byPeer.clear()
    }
    return dropped
  }
}

function busy (message: string): Refused { return { refused: true, message, code: 'ERR_BUSY' } }

/**
 * Pure: whether a peer holding `mine` of the `waiting` places of a queue of `max` may take one more
 * (undefined) or why not: only while what it holds is under half of the places the others leave free
 * (2 × mine < max − others). A peer holding none always may (when the queue is not full).
 */
export function overShare (mine: number, waiting: number, max: number): string | undefined {
  const left = max - (waiting - mine)
  if (mine === 0 || 2 * mine < left) return undefined
  return `holds ${mine} of the ${waiting} waiting (its share: half of the ${left} places the others leave)`
}

/** The peer has one more entry waiting in `byPeer`. */
function join (byPeer: Map<string, number>, peer: string): void {
  byPeer.set(peer, (byPeer.get(peer) ?? 0) + 1)
}

/** One of the peer's waiting entries left `byPeer`. */
function leave (byPeer: Map<string, number>, peer: string): void {
  const mine = (byPeer.get(peer) ?? 1) - 1
  if (mine > 0) byPeer.set(peer, mine)
  else byPeer.delete(peer)
}

/** The bytes of `value`'s JSON (its UTF-16 length: what a JSON text holds in memory), or undefined when nested too deeply to encode. */
function jsonBytes (value: unknown): number | undefined {
  try {
    return JSON.stringify(value)?.length ?? 4
  } catch {
    return undefined
  }
}

function noop (): void {}
