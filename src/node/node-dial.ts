import { PeerwardenError } from '../errors.js'
import { jittered } from '../manager/backoff.js'
import type { Clock, DialFn } from '../manager/types.js'
import type { NodeConnection } from './connection.js'
import type { FailedDialLimits } from './budget-options.js'
import { DialBudget } from './dial-budget.js'
import { parseRelayedAddress } from './relay-client.js'
import type { TcpTransport } from './transport.js'

/**
 * The manager's dial for a node: a TCP + Noise dial that succeeds only once the remote's manager
 * accepted the connection.
 *
 * Rules:
 * - A refusal by the remote's manager is a failed dial (`ERR_REFUSED`, from `conn.verdict()`).
 * - Every dial begun is counted (`dials`), and every one that failed (`failed`), except a dial
 *   called off by our own signal: the manager does not count that as a failure either.
 * - Once a dial settled, however, `settled(peer)` is called (discovery paces its dials by it).
 * - The remote's hello is shown to discovery (`hello`) as soon as the handshake completes.
 * - A relayed address (`tcp://…/relay/<relayId>`) is dialled through that relay (`relayed`).
 * - A visit (`visit`) is a dial too, but not the manager's: it ends when the rendezvous point took
 *   it, and is counted by discovery, not here.
 * - An early refusal of a bootstrap node is not a dead address: when the remote took the TCP
 *   connection and closed it before answering the handshake (what a node does to a socket over its
 *   per-IP rate or pending budgets, say a bootstrap node that many nodes of one host dial at once),
 *   a dial to an address of `retryEarlyFor` tries again after `EARLY_RETRY` ms ± half (at most
 *   `EARLY_RETRIES` times, within the manager's dial timeout and signal), rather than failing into
 *   the manager's backoff (5 s, then 10 s, for a peer never connected). A refused or silent address
 *   fails at once. Only the addresses the application gave are retried: an address heard from
 *   peers is dialled at most once per backoff period (it may be an unrelated service). Retries are
 *   counted in `retriedEarly`, not in `dials`.
 * - Dials that fail before the remote's manager answers are budgeted per target host and range
 *   (`budget`, dial-budget.ts): past it a dial there fails at once, no socket opened.
 * - Every wait here (an early retry, a refusal over the budget, the budget's window) is timed on the
 *   node's clock and jittered with its random (`manager.clock` and `manager.random` when the
 *   application gives them), never on the system's: a node in virtual time dials in virtual time.
 */
export class NodeDialer {
  /** Dials begun since creation (bootstrap dials included). */
  dials = 0
  /** Of `dials`: those that failed (not those called off). */
  failed = 0
  /** Dials tried again after an early refusal (see the rules). */
  retriedEarly = 0
  /** host:port of the addresses whose early refusals are retried. */
  private readonly retried = new Set<string>()
  /** Failed dials per target host and range (dial-budget.ts). */
  readonly budget: DialBudget

  constructor (
    private readonly transport: Pick<TcpTransport, 'dial'>,
    private readonly on: {
      hello: (conn: NodeConnection) => void
      settled: (peer: string | undefined) => void
      /** A dial to a relayed address (relay-client.ts). */
      relayed?: (address: string, opts: { peer?: string; signal: AbortSignal }) => Promise<NodeConnection>
    },
    /** The node's clock and random (the manager's when the application injects them): every wait of a dial is timed on it. */
    private readonly timing: { clock: Clock; random: () => number },
    failedDialLimits?: Partial<FailedDialLimits>
  ) {
    this.budget = new DialBudget(timing.clock, failedDialLimits)
  }

  /** The addresses (the bootstrap nodes') whose early refusals are retried within the dial. */
  retryEarlyFor (addresses: readonly string[]): void {
    for (const a of addresses) {
      const hp = hostPort(a)
      if (hp !== undefined) this.retried.add(hp)
    }
  }

  readonly dial: DialFn = async (address, opts) => {
    this.dials++
    try {
      const budget = this.retried.has(hostPort(address) ?? '') ? undefined : this.budget.keysOf(address)
      if (budget !== undefined && !this.budget.allows(budget)) {
        // Not at once: the manager fills a freed dial slot at once, and thousands of refusals in a
        // row held the event loop for seconds; this way at most maxParallelDials per REFUSAL_DELAY.
        await pause(this.timing.clock, REFUSAL_DELAY, opts.signal)
        throw new PeerwardenError('ERR_DIAL_FAILED', `${address}: too many dials to its host failed within a minute (the dial budget; it may not be a peerwarden node)`, { cause: 'dial-budget' })
      }
      let conn: NodeConnection
      for (let retry = 1; ; retry++) {
        try {
          conn = parseRelayedAddress(address) !== undefined && this.on.relayed !== undefined ? await this.on.relayed(address, opts) : await this.transport.dial(address, opts)
          break
        } catch (err) {
          if (budget !== undefined && !opts.signal.aborted) this.budget.failed(budget)
          if (retry > EARLY_RETRIES || opts.signal.aborted || !refusedEarly(err) || !this.retried.has(hostPort(address) ?? '')) throw err
          this.retriedEarly++
          await pause(this.timing.clock, jittered(EARLY_RETRY, 0.5, this.timing.random), opts.signal)
        }
      }
      this.on.hello(conn)
      await abortable(conn.verdict(), opts.signal, () => { conn.close() })
      return conn
    } catch (err) {
      if (!opts.signal.aborted) this.failed++
      throw err
    } finally {
      this.on.settled(opts.peer)
    }
  }

  /**
   * A dial-back probe (dial-back.ts): a handshake with `peer` at `address` whose hello says "probe";
   * resolves once the handshake completed (the peer is reachable there), then closes ('probe').
   * Not the manager's dial and not counted in `dials`. `nonce` (the asker's) is echoed in the hello.
   */
  async probe (address: string, peer: string, signal: AbortSignal, nonce?: string): Promise<void> {
    const conn = await this.transport.dial(address, { peer, signal, probe: true, ...(nonce !== undefined ? { nonce } : {}) })
    conn.close('probe')
  }

  /**
   * A visit to a rendezvous point: a handshake whose hello says "visit" and carries our topics; the
   * point takes it and closes ('visit'). A point too old to know visits accepts it as a connection,
   * which we close at once (it saw our hello all the same).
   */
  async visit (point: { id: string; address: string }, signal: AbortSignal): Promise<void> {
    const conn = await this.transport.dial(point.address, { peer: point.id, signal, visit: true })
    try {
      await abortable(conn.verdict(), signal, () => { conn.close() })
    } catch (err) {
      if (err instanceof PeerwardenError && err.code === 'ERR_REFUSED' && err.cause === 'visit') return
      throw err
    } finally {
      conn.close('visit')
    }
  }
}

/** How long a dial over the dial budget takes to fail (ms; see `dial`). */
export const REFUSAL_DELAY = 100

/** Tries after an early refusal, per dial, and the mean wait before each (± half). */
export const EARLY_RETRIES = 2
/** The mean wait before a retry after an early refusal: one window of the per-IP rate (ms). */
export const EARLY_RETRY = 1000

/**
 * Whether a dial's error is an early refusal: the TCP connection was made and the remote closed it
 * before the handshake got an answer (ERR_DIAL_FAILED whose cause is ERR_CONNECTION_CLOSED: a node
 * refusing a socket ends it without a reset). A refused connection (ECONNREFUSED), a reset, a timeout
 * or a failed handshake is not.
 */
export function refusedEarly (err: unknown): boolean {
  if (!(err instanceof PeerwardenError) || err.code !== 'ERR_DIAL_FAILED') return false
  const cause = err.cause as { code?: unknown } | undefined
  return cause?.code === 'ERR_CONNECTION_CLOSED'
}

/** The `host:port` part of a tcp:// address, without the peer id (undefined when it is not one). */
function hostPort (address: string): string | undefined {
  return /^tcp:\/\/([^#]+)(?:#.*)?$/i.exec(address)?.[1]?.toLowerCase()
}

/** Resolves after `ms` on `clock`, or rejects with ERR_ABORTED when `signal` aborts first. */
async function pause (clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { clock.clearTimeout(timer); reject(new PeerwardenError('ERR_ABORTED', 'dial aborted', { cause: signal.reason })) }
    const timer = clock.setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** `p`, or ERR_ABORTED (after `onAbort`) when `signal` aborts first. */
async function abortable<T> (p: Promise<T>, signal: AbortSignal, onAbort: () => void): Promise<T> {
  if (signal.aborted) { onAbort(); throw new PeerwardenError('ERR_ABORTED', 'dial aborted', { cause: signal.reason }) }
  let listener: (() => void) | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => {
      listener = () => { onAbort(); reject(new PeerwardenError('ERR_ABORTED', 'dial aborted', { cause: signal.reason })) }
      signal.addEventListener('abort', listener, { once: true })
    })])
  } finally {
    if (listener !== undefined) signal.removeEventListener('abort', listener)
  }
}
