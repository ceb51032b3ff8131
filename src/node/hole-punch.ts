import net from 'node:net'
import { PeerwardenError } from '../errors.js'

/** Where and how `simultaneousOpen` dials. */
export interface SimultaneousOpenOptions {
  /**
   * The local port every attempt dials from: the port the NAT mapped for us, as a third host saw it.
   * It may be the port of an outgoing connection still open (the one that learnt the mapping), never
   * a port something listens on (the dial then fails with EADDRINUSE at once).
   */
  localPort: number
  /** The local address to bind (default: any). */
  localAddress?: string
  /** The other side's address as the world sees it (its NAT's outside address and mapped port). */
  remote: { host: string; port: number }
  /** Dials before giving up (default 8). */
  attempts?: number
  /** ms between the end of one attempt and the next (default 200). */
  interval?: number
  /**
   * ms one attempt may stay unanswered before it is abandoned for the next (default 1500). While an
   * attempt waits the kernel retransmits its SYN; the other side's SYN or SYN-ACK completes it.
   */
  attemptTimeout?: number
  /** Calls the punch off: the pending attempt is destroyed, the promise rejects with ERR_ABORTED. */
  signal?: AbortSignal
  /** Called after each attempt with its number (1-based) and its error (none: it connected). */
  onAttempt?: (attempt: number, error?: Error) => void
}

const DEFAULTS = { attempts: 8, interval: 200, attemptTimeout: 1500 }

function positiveInt (name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw PeerwardenError.invalid(`${name} must be an integer >= ${min} (got ${String(v)})`)
  return v
}

/**
 * TCP simultaneous open: a direct connection between two hosts behind NATs, each dialling the
 * other's mapped address from its own mapped port at about the same time (coordinated elsewhere,
 * for instance through a relay). Each side's SYN opens its own NAT for the other's; whichever SYN
 * arrives after the other side's went out passes, and the kernels complete the handshake (both
 * sockets see a client connect). Resolves with the connected socket, or rejects with
 * ERR_DIAL_FAILED (every attempt failed; `cause`: the last attempt's error) or ERR_ABORTED.
 *
 * Rules:
 * - Every attempt binds `localPort`. libuv sets SO_REUSEADDR before bind, so on Linux a port already
 *   used by an outgoing connection can be bound again for another destination (measured: Linux 6.x,
 *   Node 20); a port with a listener on it cannot (EADDRINUSE), so a node punches from the port of
 *   an outgoing connection, not from its listening port.
 * - Attempts are sequential (two sockets cannot share the same four-tuple): one is abandoned after
 *   `attemptTimeout` or fails (a reset: the other NAT or host answered RST because its side had not
 *   dialled yet), then the next starts `interval` ms later. Routers that drop unsolicited SYNs
 *   connect on the first attempt; routers that answer RST need a few (2 to 7 seen, 0.2 s apart).
 * - A NAT that maps each destination to a new random port (symmetric) cannot be punched this way:
 *   the port the third host saw is not the one the other side is dialled from.
 * - Both sides get an ordinary client socket: which of them starts the secure handshake as the
 *   initiator must be agreed by rule (for instance the lower peer id), not read off the socket.
 * - The resolved socket has no timeout and no listeners but the caller's; failed attempts' sockets
 *   are destroyed.
 */
export async function simultaneousOpen (options: SimultaneousOpenOptions): Promise<net.Socket> {
  const localPort = positiveInt('localPort', options.localPort, 1)
  if (localPort > 65535) throw PeerwardenError.invalid(`localPort must be a port number (got ${localPort})`)
  const { host, port } = options.remote ?? {}
  if (typeof host !== 'string' || host === '') throw PeerwardenError.invalid('remote.host must be a host name or address')
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw PeerwardenError.invalid(`remote.port must be a port number (got ${String(port)})`)
  const attempts = positiveInt('attempts', options.attempts ?? DEFAULTS.attempts, 1)
  const interval = positiveInt('interval', options.interval ?? DEFAULTS.interval, 0)
  const attemptTimeout = positiveInt('attemptTimeout', options.attemptTimeout ?? DEFAULTS.attemptTimeout, 1)
  const signal = options.signal
  let last: Error | undefined
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (isAborted(signal)) throw aborted(signal!)
    try {
      const socket = await attemptOnce(host, port, localPort, options.localAddress, attemptTimeout, signal)
      options.onAttempt?.(attempt)
      return socket
    } catch (err) {
      if (isAborted(signal)) throw aborted(signal!)
      last = err as Error
      options.onAttempt?.(attempt, last)
      // A port something listens on will not become free by waiting: say so at once.
      if ((last as NodeJS.ErrnoException).code === 'EADDRINUSE') break
    }
    if (attempt < attempts && interval > 0) await delay(interval, signal)
  }
  throw new PeerwardenError('ERR_DIAL_FAILED', `simultaneous open from port ${localPort} to ${host}:${port} failed (${last?.message ?? 'no attempt'})`, { cause: last })
}

function isAborted (signal: AbortSignal | undefined): boolean { return signal?.aborted === true }

function aborted (signal: AbortSignal): PeerwardenError {
  return new PeerwardenError('ERR_ABORTED', 'simultaneous open aborted', { cause: signal.reason })
}

/** One dial from `localPort`: the connected socket, or the reason it did not connect within `timeout`. */
async function attemptOnce (host: string, port: number, localPort: number, localAddress: string | undefined, timeout: number, signal: AbortSignal | undefined): Promise<net.Socket> {
  return await new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localPort, ...(localAddress !== undefined ? { localAddress } : {}) })
    const timer = setTimeout(() => { done(new PeerwardenError('ERR_DIAL_TIMEOUT', `no answer from ${host}:${port} within ${timeout} ms`)) }, timeout)
    const onAbort = (): void => { done(aborted(signal!)) }
    const done = (err?: Error): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.off('connect', onConnect)
      socket.off('error', done)
      if (err === undefined) { resolve(socket); return }
      // A late error of a destroyed attempt must not be unhandled.
      socket.on('error', () => {})
      socket.destroy()
      reject(err)
    }
    const onConnect = (): void => { done() }
    socket.once('connect', onConnect)
    socket.once('error', done)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

async function delay (ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (isAborted(signal)) throw aborted(signal!)
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { clearTimeout(timer); reject(aborted(signal!)) }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
