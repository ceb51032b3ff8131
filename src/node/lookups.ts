import type { Clock } from '../manager/types.js'
import type { NodeConnection } from './connection.js'

/** What to do with a lookup answer ('peers' message). */
export type AnswerVerdict = 'learn' | 'wait-only' | 'unsolicited'

interface Pending {
  topic: string
  /** The connections asked that have not answered yet. */
  waiting: Set<string>
  done: () => void
  /** Only waits: what it finds is not learnt (see `Lookups.ask`). */
  barrier: boolean
}

/**
 * The lookups we sent and are waiting for: each has an id, the topic asked about and the
 * connections asked.
 *
 * Rules:
 * - An answer counts only when it carries the id of a lookup we sent on that same connection, for
 *   the topic we asked about; any other is unsolicited (never learnt, counted by the caller).
 * - A lookup resolves once every connection asked has answered, or after `timeout`.
 * - A barrier lookup only waits: sent after an unannounce on the same ordered channel, its answer
 *   proves the remote processed what came before it; what it carries is not learnt.
 */
export class Lookups {
  private readonly pending = new Map<number, Pending>()
  private nextId = 0

  constructor (private readonly clock: Clock, private readonly timeout: number) {}

  /** Asks each of `conns` for the peers of `topic`; resolves when all answered or `timeout` passed. */
  async ask (topic: string, conns: Iterable<NodeConnection>, barrier: boolean): Promise<void> {
    await new Promise<void>((resolve) => {
      const id = this.nextId++
      const waiting = new Set<string>()
      const done = (): void => { this.clock.clearTimeout(timer); this.pending.delete(id); resolve() }
      const timer = this.clock.setTimeout(done, this.timeout)
      this.pending.set(id, { topic, waiting, done, barrier })
      for (const conn of conns) if (conn.post({ t: 'lookup', id, topic })) waiting.add(conn.id)
      if (waiting.size === 0) done()
    })
  }

  /** An answer arrived on `conn`: whether to learn from it. Settles its lookup once all answered. */
  answer (conn: NodeConnection, id: number, topic: string): AnswerVerdict {
    const p = this.pending.get(id)
    if (p === undefined || p.topic !== topic || !p.waiting.has(conn.id)) return 'unsolicited'
    p.waiting.delete(conn.id)
    if (p.waiting.size === 0) p.done()
    return p.barrier ? 'wait-only' : 'learn'
  }
}
