import type { TypedEventTarget } from '../manager/events.js'
import type { Logger } from '../logger.js'
import type { InboundRefusal } from './inbound-limits.js'
import type { NodeEvents } from './types.js'

/**
 * What a node writes to its `logger` (the `logger` option; nothing without one). Every line is a
 * message and fields, as pino writes them; ids are the full lowercase hex.
 *
 * Levels:
 * - `info`: a connection kept (`connected` { peer, direction, address, replaced }), a peer's last
 *   connection gone (`disconnected` { peer, reason }), a dial that failed (`dial failed` { peer,
 *   address, code, error, cause }), an inbound handshake that failed (`handshake failed` { address,
 *   code, error }).
 * - `warn`: what points at a configuration or a peer at fault — a dial that reached another peer than
 *   the id given (`ERR_PEER_MISMATCH`), a handshake from another network (`ERR_NETWORK_KEY`), a peer
 *   that broke the protocol (`protocol error` { peer, address, reason }), a peer store problem
 *   (`store problem` { code, error }).
 * - `debug`: the node listening (`listening` { id, addresses }), connections refused by the manager
 *   (`refused` { peer, address, reason }), inbound sockets refused before any cryptography (`refused
 *   early` { address, rule }: denied, rate, rate-range, rate-all, per-ip, pending-range, pending), trims (`trimmed` { closed, reason }).
 *
 * Rules:
 * - A logger that throws never reaches the node: its exceptions are dropped.
 * - Nothing is rate-limited here (a log pipeline does that, and so does the command line, in its
 *   log-limit.ts); the levels keep what a flood of hostile sockets causes at `debug`.
 */
export class NodeLog {
  constructor (private readonly logger: Logger) {}

  /** Listens to the node's events and writes what they say. */
  watch (events: TypedEventTarget<NodeEvents>): void {
    events.addEventListener('connection', (e) => {
      const { peer, connection, replaced } = e.detail
      this.write('info', { peer, direction: connection.direction, address: connection.address, ...(replaced ? { replaced } : {}) }, 'connected')
    })
    events.addEventListener('disconnection', (e) => { this.write('info', { peer: e.detail.peer, reason: e.detail.reason }, 'disconnected') })
    events.addEventListener('dial:failed', (e) => {
      const { peer, address, error } = e.detail
      const code = codeOf(error)
      this.write(code === 'ERR_PEER_MISMATCH' ? 'warn' : 'info', { peer, address, code, error: error.message, cause: causeOf(error) }, 'dial failed')
    })
    events.addEventListener('handshake:failed', (e) => {
      const { address, error } = e.detail
      const code = codeOf(error)
      this.write(code === 'ERR_NETWORK_KEY' ? 'warn' : 'info', { address, code, error: error.message }, 'handshake failed')
    })
    events.addEventListener('protocol:error', (e) => { this.write('warn', { ...e.detail }, 'protocol error') })
    events.addEventListener('store:error', (e) => { this.write('warn', { code: codeOf(e.detail.error), error: e.detail.error.message }, 'store problem') })
    events.addEventListener('connection:refused', (e) => {
      const { connection, reason } = e.detail
      this.write('debug', { peer: connection.peer, address: connection.address, reason }, 'refused')
    })
    events.addEventListener('trim', (e) => { this.write('debug', { closed: e.detail.closed, reason: e.detail.reason }, 'trimmed') })
  }

  /** An inbound socket refused before any cryptography (the transport's `onRefused`). */
  refusedEarly (address: string, rule: InboundRefusal | 'gate'): void {
    this.write('debug', { address, rule: rule === 'gate' ? 'denied' : rule === 'pending-ip' ? 'per-ip' : rule }, 'refused early')
  }

  /** The node listens (at the end of its start). */
  listening (id: string, addresses: string[]): void {
    this.write('debug', { id, addresses }, 'listening')
  }

  private write (level: 'debug' | 'info' | 'warn', fields: Record<string, unknown>, message: string): void {
    try {
      for (const key of Object.keys(fields)) if (fields[key] === undefined) delete fields[key]
      this.logger[level](fields, message)
    } catch { /* a logger's failure is not the node's */ }
  }
}

function codeOf (error: Error): string {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : 'ERR_UNKNOWN'
}

/** The code of the error's cause (ECONNREFUSED under an ERR_DIAL_FAILED), when it has one. */
function causeOf (error: Error): string | undefined {
  const code = (error.cause as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : undefined
}
