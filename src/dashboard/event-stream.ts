import type http from 'node:http'
import type { ConnectionManager } from '../manager/types.js'

/** Bytes an event stream may hold unsent before its page is dropped. */
const MAX_BUFFERED = 1024 * 1024

/** The manager events the page's log shows (dial:started is left out: one per dial is noise there). */
const LOGGED = ['peer:connected', 'peer:disconnected', 'connection:refused', 'connection:closed', 'dial:failed', 'trim', 'peer:priority', 'store:error'] as const

/**
 * The dashboard's `/events` streams (Server-Sent Events).
 *
 * Rules:
 * - A page gets a 'snapshot' ({ at, stats, connections }: at most `maxPeers` connections, highest
 *   value first) at once and every `interval`, and a 'manager' message per logged manager event.
 * - The manager's events are listened to, and the snapshot timer (unref'd) runs, only while a page
 *   is open: the first page starts both, the last one to go stops them.
 * - A page whose stream holds more than 1 MiB unsent is dropped (it reconnects when it can).
 */
export class EventStreams {
  private readonly streams = new Set<http.ServerResponse>()
  private timer: NodeJS.Timeout | undefined
  private readonly listeners = LOGGED.map((type) => ({ type, fn: (e: Event) => { this.broadcast(sse('manager', describe(type, (e as CustomEvent<Record<string, unknown>>).detail))) } }))

  constructor (private readonly manager: ConnectionManager, private readonly opts: { interval: number; maxPeers: number }) {}

  /** Serves one page's stream on `res` until it closes. */
  open (req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    if (req.method === 'HEAD') { res.end(); return }
    res.write(': peerwarden\n\n' + this.snapshot())
    this.streams.add(res)
    if (this.streams.size === 1) this.watch(true)
    res.on('close', () => {
      this.streams.delete(res)
      if (this.streams.size === 0) this.watch(false)
    })
  }

  /** Ends every stream and stops listening. */
  close (): void {
    for (const res of this.streams) res.end()
    this.streams.clear()
    this.watch(false)
  }

  private snapshot (): string {
    const { manager, opts } = this
    const connections = manager.listConnections()
    if (connections.length > opts.maxPeers) connections.sort((a, b) => b.value - a.value).length = opts.maxPeers
    return sse('snapshot', { at: Date.now(), stats: manager.stats(), connections })
  }

  private broadcast (chunk: string): void {
    for (const res of this.streams) {
      // A page that stopped reading is dropped rather than buffered without end (it reconnects when it can).
      if (res.writableLength > MAX_BUFFERED) { this.streams.delete(res); res.destroy(); continue }
      res.write(chunk)
    }
  }

  private watch (on: boolean): void {
    const events = this.manager.events
    if (on) {
      for (const l of this.listeners) events.addEventListener(l.type, l.fn)
      this.timer = setInterval(() => { this.broadcast(this.snapshot()) }, this.opts.interval)
      this.timer.unref()
    } else {
      for (const l of this.listeners) events.removeEventListener(l.type, l.fn)
      clearInterval(this.timer)
      this.timer = undefined
    }
  }
}

function sse (event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}

/** A manager event as the page's log shows it: plain fields, no connection objects. */
function describe (type: string, d: Record<string, unknown>): Record<string, unknown> {
  const conn = d.connection as { peer?: string; direction?: string; address?: string } | undefined
  const out: Record<string, unknown> = { at: Date.now(), type }
  const peer = (d.peer as string | undefined) ?? conn?.peer
  if (peer !== undefined) out.peer = peer
  if (conn?.direction !== undefined) out.direction = conn.direction
  if (conn?.address !== undefined) out.address = conn.address
  if (typeof d.reason === 'string') out.reason = d.reason
  if (typeof d.closed === 'number') out.closed = d.closed
  if (typeof d.priority === 'string') out.priority = d.priority
  if (typeof d.address === 'string') out.address = d.address
  if (d.error instanceof Error) out.error = d.error.message
  return out
}
