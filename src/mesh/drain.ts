import type { Instance } from './instance.js'

/**
 * Telling the instances connected to us that we drain, and knowing when they all heard it.
 *
 * Rules:
 * - `start` sends 'drain' to every listed instance whose handshake said it understands it, and
 *   resolves once each of them answered 'drain-ack' or its channel closed. The channel keeps order,
 *   so after the ack every call that instance sent us before it knew has arrived (and was accepted
 *   or refused ERR_DRAINING): nothing is on its way when we close.
 * - An instance listed while we drain is told at once (`listed`). Each instance is told once (a
 *   second `start` waits for the same acknowledgements, it does not ask again).
 * - An older peer (no `drain` in its handshake) is not told: its new calls are refused ERR_DRAINING.
 */
export class Drain {
  /** `start` was called. */
  active = false
  private readonly unheard = new Set<Instance>()
  /** Told once each: a remote acknowledges one 'drain' per channel (it ignores a repeated one). */
  private readonly told = new WeakSet<Instance>()
  private readonly wakers: Array<() => void> = []

  /** Tells `instances`; resolves once all of them acknowledged it (or went away). */
  async start (instances: Iterable<Instance>): Promise<void> {
    this.active = true
    for (const i of instances) this.tell(i)
    if (this.unheard.size === 0) return
    await new Promise<void>((resolve) => { this.wakers.push(resolve) })
  }

  /** An instance listed now: told if we drain. */
  listed (instance: Instance): void {
    if (this.active) this.tell(instance)
  }

  /** It acknowledged our 'drain', or its channel closed. */
  heard (instance: Instance): void {
    if (!this.unheard.delete(instance) || this.unheard.size > 0) return
    for (const wake of this.wakers.splice(0)) wake()
  }

  private tell (instance: Instance): void {
    if (!instance.drains || this.told.has(instance)) return
    this.told.add(instance)
    this.unheard.add(instance)
    instance.send.send({ t: 'drain' })
  }
}
