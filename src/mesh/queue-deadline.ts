import { MAX_DELAY } from '../clock.js'
import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'

/** How one run of a queued handler ended: it settled (ok or with its error), or its deadline passed first. */
export type RunOutcome = { ok: true } | { ok: false; error: unknown; timedOut: boolean }

/** What a queued handler's deadline counts, over every consumer of a queue (`RedisQueue.stats()`). */
export interface DeadlineFigures {
  /** Deliveries whose handler had not settled at its deadline (each counts as a failed delivery). */
  handlerTimeouts: number
  /** Handlers past their deadline that still run (they ignored `signal`); they are never started again while they run. */
  overdueHandlers: number
  /** Consumers holding `maxOverdueHandlers` such handlers: they take no new message until one ends. */
  stalledConsumers: number
}

/** A run of a handler, past its deadline and still running: the delivery after it waits on it instead of starting another. */
interface Overdue { id: string; settled: Promise<RunOutcome> }

/**
 * One consumer's handler runs under a deadline (the queued path's `timeout`, as a call's on the direct path).
 *
 * Rules:
 * - A run gets `signal`, aborted with ERR_TIMEOUT at `deadline` (`now + timeout`); past it the
 *   consumer stops waiting and the delivery counts as failed (retried, then dead-lettered after
 *   `maxDeliveries`, as a handler that threw). `Infinity` waits for ever.
 * - Never twice at once: a run still going when its message is delivered again is not started
 *   again; the new delivery waits for that same run, up to another `timeout` (its outcome is the
 *   delivery's: a late success is acknowledged then, unrun). A run past its deadline that ended in
 *   failure (it honoured its signal) is over: the next delivery runs the handler again.
 * - A message dead-lettered while its run goes on is let go (`forget`): the run is counted in
 *   `overdueHandlers` until it settles.
 * - At most `maxOverdue` runs past their deadline go on per consumer: holding that many, the
 *   consumer starts no new run until one ends (counted in `stalledConsumers`, reported once per
 *   stall through `stalled`); the message waits, delivered and pending, and its deadline starts
 *   when its run does. As a BullMQ worker's concurrency slot or a Moleculer bulkhead slot stays
 *   taken by a handler its caller gave up on: the messages wait in Redis, none is lost, and a
 *   consumer whose handlers never end holds `maxOverdue` of them, not one per message.
 * - The queue closing aborts the run's signal and stops the wait at once (the message stays pending
 *   in Redis, delivered again after a restart): `close()` never waits for a handler.
 */
export class HandlerDeadline {
  private overdue: Overdue | undefined
  /** This consumer's runs past their deadline still going. */
  private late = 0
  /** Resolves the wait for room (a late run ended, or the queue closes). */
  private roomMade: (() => void) | undefined

  constructor (
    private readonly clock: Clock,
    private readonly timeout: number,
    private readonly figures: DeadlineFigures,
    /** Aborts when the queue closes: the run's signal aborts with it, and nobody waits for the run any more. */
    private readonly closing: AbortSignal,
    /** The most runs past their deadline this consumer lets go on before it starts no new one. */
    private readonly maxOverdue = Infinity,
    /** Called when the consumer starts waiting for a late run to end (holding `maxOverdue`). */
    private readonly stalled: (late: number) => void = () => {}
  ) {}

  /** Runs (or waits again for) `id`'s handler, at most `timeout` ms or until the queue closes. Never rejects. */
  async run (id: string, start: (signal: AbortSignal, deadline: number) => Promise<void>): Promise<RunOutcome> {
    let settled: Promise<RunOutcome>
    let controller: AbortController | undefined
    if (this.overdue?.id !== id && this.late >= this.maxOverdue && !await this.room()) {
      return { ok: false, error: PeerwardenError.closed('the queue'), timedOut: false }
    }
    const deadline = this.clock.now() + this.timeout
    if (this.overdue?.id === id) {
      settled = this.overdue.settled
    } else {
      this.overdue = undefined
      controller = new AbortController()
      const signal = controller.signal
      settled = Promise.resolve().then(async () => { await start(signal, deadline) }).then((): RunOutcome => ({ ok: true }), (error: unknown): RunOutcome => ({ ok: false, error, timedOut: false }))
    }
    let timer: unknown
    let onClose: (() => void) | undefined
    const late = new Promise<'late' | 'closed'>((resolve) => {
      if (this.timeout <= MAX_DELAY) timer = this.clock.setTimeout(() => { resolve('late') }, this.timeout)
      onClose = () => { resolve('closed') }
      if (this.closing.aborted) onClose()
      else this.closing.addEventListener('abort', onClose, { once: true })
    })
    const first = await Promise.race([settled, late])
    this.clock.clearTimeout(timer)
    this.closing.removeEventListener('abort', onClose!)
    if (first === 'closed') {
      // Left pending in Redis: delivered again after a restart (at least once).
      controller?.abort(PeerwardenError.closed('the queue'))
      return { ok: false, error: PeerwardenError.closed('the queue'), timedOut: false }
    }
    if (first !== 'late') return await this.settle(id, settled)
    this.figures.handlerTimeouts++
    const error = new PeerwardenError('ERR_TIMEOUT', `its handler did not settle within ${this.timeout} ms (the queue's handlerTimeout)`)
    if (controller !== undefined) {
      controller.abort(error)
      this.figures.overdueHandlers++
      this.late++
      // A run that ends in failure (say, honouring its signal) is over: the next delivery runs the
      // handler again. One that ends well is kept: the next delivery acknowledges it unrun.
      void settled.then((o) => {
        this.figures.overdueHandlers--
        this.late--
        this.roomMade?.()
        if (!o.ok && this.overdue?.settled === settled) this.overdue = undefined
      })
    }
    this.overdue = { id, settled }
    return { ok: false, error, timedOut: true }
  }

  /** Waits until fewer than `maxOverdue` late runs go on: true, or false when the queue closed first. */
  private async room (): Promise<boolean> {
    this.figures.stalledConsumers++
    this.stalled(this.late)
    try {
      while (this.late >= this.maxOverdue) {
        if (this.closing.aborted) return false
        let onClose: (() => void) | undefined
        await new Promise<void>((resolve) => {
          this.roomMade = resolve
          onClose = resolve
          this.closing.addEventListener('abort', onClose, { once: true })
        })
        this.closing.removeEventListener('abort', onClose!)
        this.roomMade = undefined
      }
      return !this.closing.aborted
    } finally {
      this.figures.stalledConsumers--
    }
  }

  /** `id` was acknowledged or dead-lettered: a run of it still going is let go. */
  forget (id: string): void {
    if (this.overdue?.id === id) this.overdue = undefined
  }

  private async settle (id: string, settled: Promise<RunOutcome>): Promise<RunOutcome> {
    const outcome = await settled
    this.forget(id)
    return outcome
  }
}
