import { PeerwardenError } from '../errors.js'
import { LabNetwork } from './network.js'
import { HostAgent } from './host-agent.js'
import type { NatKind } from './plan.js'

/** What stands between a host and the lab's internet, for the punch matrix. */
export type PunchSide = 'public' | NatKind

/** How `punchMatrix` measures. */
export interface PunchMatrixOptions {
  /** Punches per pair of sides (default 10). They run at once, each from its own pair of ports. */
  tries?: number
  /** `simultaneousOpen`'s attempts, interval and per-attempt timeout (default 5, 200 ms, 1000 ms). */
  attempts?: number
  interval?: number
  attemptTimeout?: number
  /** Which pairs to measure (default every pair of public, port-restricted and symmetric). */
  pairs?: Array<[PunchSide, PunchSide]>
  /** Called with each line of progress. */
  progress?: (line: string) => void
}

/** The outcome of the tries between two sides. */
export interface PunchPairResult {
  a: PunchSide
  b: PunchSide
  tries: number
  /** Tries in which both sides connected and each heard the other's line. */
  succeeded: number
  /** Of the successful tries: how many attempts each took (the larger of the two sides). */
  attempts: number[]
  /** Of the successful tries: ms from the start of the punch until connected (the larger side). */
  ms: number[]
  /** How the failed tries failed (error code: count). */
  failures: Record<string, number>
  /** Whether a's NAT gave the punch socket the same outside port for every destination (its mapping, as a third host saw it, was the local port kept). */
  portKept: boolean
}

const ALL_PAIRS: Array<[PunchSide, PunchSide]> = [
  ['port-restricted', 'port-restricted'],
  ['public', 'port-restricted'],
  ['public', 'public'],
  ['port-restricted', 'symmetric'],
  ['public', 'symmetric'],
  ['symmetric', 'symmetric']
]

/**
 * TCP hole punching (`simultaneousOpen`) measured per kind of NAT the lab makes: a lab with a
 * reflector host and two hosts of each side (public, port-restricted, symmetric); for each pair of
 * sides, `tries` punches between one host of each. Each punch learns both mappings first, as a node
 * would (a connection from the punch port to the reflector, which says what address and port it
 * saw), then both sides dial each other's mapping at once. Everything is removed at the end.
 */
export async function punchMatrix (options: PunchMatrixOptions = {}): Promise<PunchPairResult[]> {
  const tries = options.tries ?? 10
  const pairs = options.pairs ?? ALL_PAIRS
  const progress = options.progress ?? (() => {})
  // Host 0: the reflector; then two hosts of each side, so a pair of equal sides has two hosts.
  const sides: PunchSide[] = ['public', 'public', 'port-restricted', 'port-restricted', 'symmetric', 'symmetric']
  const lab = new LabNetwork(`${process.pid % 10_000_000}p`, [{}, ...sides.map((s) => s === 'public' ? {} : { nat: s })])
  const agents: HostAgent[] = []
  const onSignal = (signal: NodeJS.Signals): void => { for (const a of agents) a.child.kill('SIGKILL'); lab.destroySync(); process.kill(process.pid, signal) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await lab.create()
    for (const h of lab.hosts) agents.push(HostAgent.start(h))
    await Promise.all(agents.map(async (a) => { await a.ready }))
    const reflector = { host: lab.hosts[0].ip, port: 3478 }
    const r = await agents[0].send({ cmd: 'reflect', host: reflector.host, port: reflector.port })
    if (r.ok !== true) throw new PeerwardenError('ERR_LAB', `the reflector did not start: ${String(r.message)}`)
    const hostOf = (side: PunchSide, second: boolean): HostAgent => agents[1 + sides.indexOf(side) + (second ? 1 : 0)]
    return await Promise.all(pairs.map(async ([sa, sb], p) => {
      const a = hostOf(sa, false)
      const b = hostOf(sb, sa === sb)
      const result: PunchPairResult = { a: sa, b: sb, tries, succeeded: 0, attempts: [], ms: [], failures: {}, portKept: true }
      await Promise.all(Array.from({ length: tries }, async (_, t) => {
        // A port per pair and try, the same on both sides (both hosts' own ports; only the NAT changes them).
        const localPort = 20_000 + p * 1000 + t
        const [ma, mb] = await Promise.all([a, b].map(async (x) => await x.send({ cmd: 'observe', localPort, reflector })))
        if (ma.ok !== true || mb.ok !== true) { count(result, 'observe failed'); return }
        if (ma.port !== localPort) result.portKept = false
        const punch = { cmd: 'punch', localPort, attempts: options.attempts ?? 5, interval: options.interval ?? 200, attemptTimeout: options.attemptTimeout ?? 1000 }
        const [ra, rb] = await Promise.all([
          a.send({ ...punch, remote: { host: mb.host, port: mb.port } }),
          b.send({ ...punch, remote: { host: ma.host, port: ma.port } })
        ])
        if (ra.ok === true && rb.ok === true) {
          result.succeeded++
          result.attempts.push(Math.max(ra.attempts as number, rb.attempts as number))
          result.ms.push(Math.max(ra.ms as number, rb.ms as number))
        } else {
          count(result, String((ra.ok === true ? rb.code : ra.code) ?? 'no line through'))
        }
      }))
      progress(formatPair(result))
      return result
    }))
  } finally {
    for (const a of agents) a.child.kill('SIGKILL')
    await lab.destroy()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

function count (r: PunchPairResult, why: string): void { r.failures[why] = (r.failures[why] ?? 0) + 1 }

/** One line per pair: `port-restricted ↔ port-restricted: 10/10 (100 %), attempts 1-1, 3 ms median`. */
export function formatPair (r: PunchPairResult): string {
  const rate = `${r.succeeded}/${r.tries} (${Math.round(100 * r.succeeded / r.tries)} %)`
  const sorted = [...r.ms].sort((x, y) => x - y)
  const detail = r.succeeded === 0
    ? ''
    : `, attempts ${Math.min(...r.attempts)}-${Math.max(...r.attempts)}, ${sorted[Math.floor(sorted.length / 2)]} ms median`
  const failed = Object.entries(r.failures).map(([k, v]) => `${v}× ${k}`).join(', ')
  return `${r.a} ↔ ${r.b}: ${rate}${detail}${failed === '' ? '' : `; failed: ${failed}`}`
}
