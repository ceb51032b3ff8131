/**
 * What every lab runner (one per stack: peerwarden, Hyperswarm, js-libp2p) shares: the interface's
 * byte counters, the JSON lines, and the sampling loop. Each runner prints the same lines
 * (samples.ts), so the controller, the measures and the report treat every stack alike.
 */
import { readFileSync } from 'node:fs'
import type { RunnerConfig, Sample } from './samples.js'

/** Bytes received and sent by the namespace's interface `dev`, from /proc/net/dev (which is per network namespace). */
export function interfaceBytes (dev: string): { rx: number; tx: number } {
  try {
    for (const line of readFileSync('/proc/net/dev', 'utf8').split('\n')) {
      const [name, rest] = line.split(':')
      if (name?.trim() !== dev || rest === undefined) continue
      const f = rest.trim().split(/\s+/).map(Number)
      return { rx: f[0] ?? 0, tx: f[8] ?? 0 }
    }
  } catch { /* no /proc */ }
  return { rx: 0, tx: 0 }
}

/** Prints one JSON line on stdout (what the controller reads). */
export function print (o: object): void { process.stdout.write(JSON.stringify(o) + '\n') }

/** The runner's configuration: its one JSON argument. */
export function runnerConfig (): RunnerConfig { return JSON.parse(process.argv[2] ?? '{}') as RunnerConfig }

/** The host and port of a lab address `tcp://<ip>:<port>#<id>` (or `tcp://<ip>:<port>`), and its id. */
export function parseLabAddress (address: string): { host: string; port: number; id: string } {
  const m = /^tcp:\/\/([\d.]+):(\d+)(?:#(.*))?$/.exec(address)
  if (m === null) throw new Error(`not a lab address: ${address}`)
  return { host: m[1], port: Number(m[2]), id: m[3] ?? '' }
}

/** What a stack's node tells the sampler; the stack-specific counters a stack lacks are 0. */
export type SampleSource = () => Omit<Sample, 'type' | 'at' | 'rx' | 'tx'>

/**
 * Prints a sample now and every `sampleEvery` ms; on SIGTERM stops and calls `close` (then exits 0,
 * or 1 if it fails). The controller kills with SIGKILL to emulate a crash.
 */
/**
 * A sample of a stack whose node knows nothing of the lab's per-IP refusals, handshakes or
 * addresses (Hyperswarm, js-libp2p): its connections (remote id, inbound or not), its manager's known
 * peers and the dials counted by the runner.
 */
export function foreignSample (conns: ReadonlyArray<{ peer: string; inbound: boolean }>, known: number, dials: number, dialsFailed: number): ReturnType<SampleSource> {
  const inbound = conns.filter((c) => c.inbound)
  return {
    connections: conns.length,
    inbound: inbound.length,
    outbound: conns.length - inbound.length,
    known,
    dials,
    dialsFailed,
    refusedEarly: 0,
    refusedRate: 0,
    refusedPerIp: 0,
    failedHandshakes: 0,
    peers: [...new Set(conns.map((c) => c.peer))],
    inboundPeers: [...new Set(inbound.map((c) => c.peer))],
    advertised: []
  }
}

/**
 * Prints a `sample` line now and every `config.sampleEvery` ms: the figures `source()` gives plus the
 * interface's byte counters; on SIGTERM stops, awaits `close()` and exits (0, or 1 if it failed).
 */
export function sampleLoop (config: RunnerConfig, source: SampleSource, close: () => Promise<void>): void {
  const sample = (): void => {
    const bytes = interfaceBytes(config.dev)
    print({ type: 'sample', at: Date.now(), ...source(), rx: bytes.rx, tx: bytes.tx })
  }
  sample()
  const timer = setInterval(sample, config.sampleEvery)
  process.once('SIGTERM', () => {
    clearInterval(timer)
    close().then(() => process.exit(0), () => process.exit(1))
  })
}

/** Reports a failed start as the runner's last line and exits 1. */
export function failed (err: unknown): never {
  print({ type: 'error', message: (err as Error).message, code: (err as { code?: string }).code })
  process.exit(1)
}
