/** Helpers shared by the peer benchmarks (bench/node.bench.ts and its child processes). */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { bulkExecArgv } from './heap-ballast.js'

export function median (xs: number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

export function nowMs (): number { return Number(process.hrtime.bigint()) / 1e6 }

export async function sleep (ms: number): Promise<void> { await new Promise((resolve) => setTimeout(resolve, ms)) }

export class TimeoutError extends Error {}

/** `p`, or a TimeoutError after `ms` (the timer does not keep the process alive). */
export async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new TimeoutError(`${what}: no answer within ${ms} ms`)) }, ms)
    timer.unref()
  })
  try { return await Promise.race([p, t]) } finally { clearTimeout(timer) }
}

/** Bulk protocol of the two-process benchmarks: a run starts with its length, the receiver acks it. */
export const BULK_PROTOCOL = 'peerwarden-bench/bulk/1'
/** Echo protocol of the connection benchmarks. */
export const ECHO_PROTOCOL = 'peerwarden-bench/echo/1'

/** A bulk contestant: this tree, the previous release (bench/previous.mjs), or a peer. */
export type ReceiverRole = 'peerwarden' | 'previous' | 'secretstream' | 'libp2p'

/** What a receiver child says once it listens. */
export interface ReceiverReady { ready: true; address: string; peer?: string }

/** A receiver child (bench/peers/receiver.js) serving `role`, and the address it listens on. */
export interface Receiver { child: ChildProcess; address: string; peer?: string; stop: () => Promise<void>; usage: () => Promise<ReceiverUsage> }

/** A receiver child's CPU time (ms) and Mark-Compacts so far. */
export interface ReceiverUsage { cpuMs: number; majorGcs: number }

export async function startReceiver (role: ReceiverRole, timeoutMs = 15_000): Promise<Receiver> {
  const script = fileURLToPath(new URL('./receiver.js', import.meta.url))
  const child = fork(script, [role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: bulkExecArgv() })
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    if (child.connected) child.send('stop')
    try {
      await withTimeout(exited, 5_000, `receiver ${role} exit`)
    } catch {
      child.kill('SIGKILL')
      await exited
    }
  }
  try {
    const ready = await withTimeout(new Promise<ReceiverReady>((resolve, reject) => {
      child.once('message', (m) => { resolve(m as ReceiverReady) })
      child.once('exit', (code) => { reject(new Error(`receiver ${role} exited with ${String(code)} before it was ready`)) })
    }), timeoutMs, `receiver ${role} start`)
    const usage = async (): Promise<ReceiverUsage> => await withTimeout(new Promise<ReceiverUsage>((resolve) => {
      const onMessage = (m: unknown): void => {
        const u = m as { cpuMs?: unknown; majorGcs?: unknown } | null
        if (typeof u?.cpuMs === 'number') {
          child.off('message', onMessage)
          resolve({ cpuMs: u.cpuMs, majorGcs: typeof u.majorGcs === 'number' ? u.majorGcs : NaN })
        }
      }
      child.on('message', onMessage)
      child.send({ cpu: true })
    }), 5_000, `receiver ${role} CPU time`)
    return { child, address: ready.address, peer: ready.peer, stop, usage }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Formats a ratio for a note: '0.93x'. */
export function ratio (a: number, b: number): number { return +(a / b).toFixed(3) }

/** Collects the set-up's garbage before a timed section (bench/run.ts runs with --expose-gc). */
export function collect (): void { (globalThis as { gc?: () => void }).gc?.() }

/**
 * A minor (young-generation) GC: clears the previous contestant's short-lived garbage without a full
 * GC, after which V8 re-optimises warm code — a cost that falls several times harder on the
 * contestant that runs more JavaScript per operation and that a long-running process does not pay
 * between every few hundred connections.
 */
export function collectYoung (): void { (globalThis as { gc?: (opts?: { type: 'minor' }) => void }).gc?.({ type: 'minor' }) }

export function quantile (xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

export const met = (ok: boolean): string => (ok ? 'target met' : 'target NOT met')

/** Rotates the order of the contestants each round, so drift on a noisy machine hits all alike. */
export function rotated<T> (xs: T[], round: number): T[] {
  const k = round % xs.length
  return [...xs.slice(k), ...xs.slice(0, k)]
}

export function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

/**
 * A forked benchmark child's way out: on 'stop' from the parent, or when the parent goes away, it runs
 * `close` (given at most 3 s) and exits. Call it before the child starts serving, so that a parent
 * that goes away during the start takes the child with it.
 */
export function exitWhenStopped (close: () => Promise<void>): void {
  let stopping = false
  const stop = async (): Promise<void> => {
    if (stopping) return
    stopping = true
    const force = setTimeout(() => { process.exit(1) }, 3_000)
    force.unref()
    try { await close() } finally { process.exit(0) }
  }
  process.on('message', (m) => { if (m === 'stop') void stop() })
  process.on('disconnect', () => { void stop() })
}
