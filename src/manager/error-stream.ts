import type { DialFailure } from './types.js'

/**
 * The stream of dial failures behind `errors()`.
 * Each call of `iterate()` is an independent subscriber that sees every failure published after it
 * subscribed, in order, until `end()`. A subscriber that stops iterating (break/return) unsubscribes.
 */
export class ErrorStream {
  /** Made by the first `iterate()` (most managers are never asked for their errors). */
  private subscribers: Set<Subscriber> | undefined = undefined
  private ended = false

  publish (failure: DialFailure): void {
    if (this.subscribers !== undefined) for (const s of this.subscribers) s.push(failure)
  }

  end (): void {
    this.ended = true
    if (this.subscribers !== undefined) for (const s of this.subscribers) s.end()
    this.subscribers = undefined
  }

  iterate (): AsyncIterable<DialFailure> {
    return {
      [Symbol.asyncIterator]: () => {
        const sub = new Subscriber(() => this.subscribers?.delete(sub) === true)
        if (this.ended) sub.end()
        else (this.subscribers ??= new Set()).add(sub)
        return sub
      }
    }
  }
}

class Subscriber implements AsyncIterator<DialFailure> {
  private readonly queue: DialFailure[] = []
  private waiting: ((r: IteratorResult<DialFailure>) => void) | undefined
  private done = false

  constructor (private readonly unsubscribe: () => void) {}

  push (f: DialFailure): void {
    if (this.done) return
    if (this.waiting !== undefined) {
      const w = this.waiting
      this.waiting = undefined
      w({ value: f, done: false })
    } else {
      this.queue.push(f)
    }
  }

  end (): void {
    this.done = true
    if (this.waiting !== undefined) {
      const w = this.waiting
      this.waiting = undefined
      w({ value: undefined, done: true })
    }
  }

  async next (): Promise<IteratorResult<DialFailure>> {
    const f = this.queue.shift()
    if (f !== undefined) return { value: f, done: false }
    if (this.done) return { value: undefined, done: true }
    return await new Promise((resolve) => { this.waiting = resolve })
  }

  async return (): Promise<IteratorResult<DialFailure>> {
    this.unsubscribe()
    this.queue.length = 0
    this.end()
    return { value: undefined, done: true }
  }
}
