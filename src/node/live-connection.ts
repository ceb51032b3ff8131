import type { NodeConnection } from './connection.js'
import type { Live, Liveness } from './liveness.js'

/**
 * A connection as the liveness sweep sees it: a dead one is closed with the reason 'timeout' (the
 * close message goes out if the path still carries it: a peer whose process stalled reads it) and
 * destroyed at once — no graceful end waits on a peer that stopped answering. A class, not a closure
 * object: one small object per connection, its getters shared.
 */
export class LiveConnection implements Live {
  constructor (private readonly conn: NodeConnection, private readonly liveness: Liveness) {}
  /** A keep-alive arrived (secure-stream.ts `keepAliveListener`): the liveness rules may answer it. */
  heard (): void { this.liveness.heard(this) }
  get lastRead (): number { return this.conn.stream.lastRead }
  get lastWrite (): number { return this.conn.stream.lastWrite }
  keepAlive (): void { this.conn.stream.keepAlive() }
  destroy (err?: Error): void {
    this.conn.close('timeout')
    this.conn.stream.destroy(err)
  }
}
