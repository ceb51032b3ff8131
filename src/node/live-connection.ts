import type { NodeConnection } from './connection.js'
import type { Live, Liveness } from './liveness.js'
import type { SecureStream } from './secure-stream.js'

/**
 * A connection as the liveness sweep sees it: a dead one is closed with the reason 'timeout' (the
 * close message goes out if the path still carries it: a peer whose process stalled reads it) and
 * destroyed at once — no graceful end waits on a peer that stopped answering. A class, not a closure
 * object: one small object per connection, its getters shared.
 */
export class LiveConnection implements Live {
  /** The connection's stream, held directly: the sweep reads its times for every connection due. */
  private readonly stream: SecureStream
  constructor (private readonly conn: NodeConnection, private readonly liveness: Liveness) {
    this.stream = conn.stream
  }

  /** A keep-alive arrived (secure-stream.ts `keepAliveListener`): the liveness rules may answer it. */
  heard (): void { this.liveness.heard(this) }
  get lastRead (): number { return this.stream.lastRead }
  get lastWrite (): number { return this.stream.lastWrite }
  keepAlive (): void { this.stream.keepAlive() }
  destroy (err?: Error): void {
    this.conn.close('timeout')
    this.conn.stream.destroy(err)
  }
}
