import type http from 'node:http'

/** Bytes an event stream may hold unsent before its page is dropped. */
const MAX_BUFFERED = 1024 * 1024
/** Pages open at once; one more is answered 503 (each open page gets every message). */
export const MAX_STREAMS = 64

/**
 * The dashboard's `/events` streams (Server-Sent Events): the open pages and what they are sent.
 *
 * Rules:
 * - A page gets `hello` (the settings and the history: see `Feed.hello`) and the manager's
 *   `snapshot` at once, then every message the feed emits.
 * - A message's data is built only when a page is open (`send` takes a function).
 * - A page whose stream holds more than 1 MiB unsent is dropped (it reconnects when it can).
 * - At most `MAX_STREAMS` (64) pages at once: one more is answered 503 (a client opening streams
 *   without end would have every message written to each of them).
 */
export class EventStreams {
  private readonly streams = new Set<http.ServerResponse>()

  /** Serves one page's stream on `res` until it closes; `first` are the messages it gets at once. */
  open (req: http.IncomingMessage, res: http.ServerResponse, first: () => Array<[string, unknown]>): void {
    if (this.streams.size >= MAX_STREAMS) {
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'retry-after': '5' })
      res.end(JSON.stringify({ error: `${MAX_STREAMS} pages are open on this dashboard: close one` }))
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    if (req.method === 'HEAD') { res.end(); return }
    res.write(': peerwarden\n\n' + first().map(([event, data]) => sse(event, data)).join(''))
    this.streams.add(res)
    res.on('close', () => { this.streams.delete(res) })
  }

  /** Sends a message to every open page. */
  send (event: string, data: () => unknown): void {
    if (this.streams.size === 0) return
    const chunk = sse(event, data())
    for (const res of this.streams) {
      // A page that stopped reading is dropped rather than buffered without end (it reconnects when it can).
      if (res.writableLength > MAX_BUFFERED) { this.streams.delete(res); res.destroy(); continue }
      res.write(chunk)
    }
  }

  /** Ends every stream. */
  close (): void {
    for (const res of this.streams) res.end()
    this.streams.clear()
  }
}

function sse (event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}
