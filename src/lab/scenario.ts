import { readFileSync, existsSync, readdirSync } from 'node:fs'
import { PeerwardenError } from '../errors.js'
import { checkRate, MAX_HOSTS, type NatKind } from './plan.js'
import type { LabStack } from './samples.js'

/** The NAT kinds of a scenario, in the order its NATed hosts take them. */
export function natKinds (nat: Scenario['nat']): NatKind[] {
  if (nat === undefined) return []
  return Array.isArray(nat.kind) ? nat.kind : [nat.kind]
}

/**
 * Which nodes (or hosts) an event is about: indices, an evenly spread fraction of the non-bootstrap
 * ones, the bootstrap nodes, or the nodes killed and not yet restarted (bootstrap nodes aside).
 */
export type Selector = number[] | { fraction: number } | 'bootstrap' | 'killed'

/** One step of a scenario's timeline, `at` seconds after every node has started (or converged: `timelineFrom`). */
export type TimelineEvent =
  | { at: number; kill: Selector }
  | { at: number; restart: Selector }
  | { at: number; partition: number[] | { fraction: number } }
  | { at: number; heal: true }
  | { at: number; loss: number; hosts?: number[] }
  | { at: number; rate: string | null; hosts?: number[] }

/**
 * A lab scenario: a topology, a timeline and how long to watch. Node i runs on host `i % hosts`;
 * nodes `0 … bootstrap-1` are the bootstrap nodes every other node starts from. The hosts behind
 * NATs are the last ones, never a bootstrap node's.
 */
export interface Scenario {
  name: string
  description: string
  /** What every node runs (default 'peerwarden'): the same scenario side by side with 'hyperswarm' or 'libp2p'. */
  stack: LabStack
  hosts: number
  nodes: number
  bootstrap: number
  /** The fraction of hosts behind a NAT, and its kind — or kinds, given to those hosts in turn. */
  nat?: { hosts: number; kind: NatKind | NatKind[] }
  /** Loss percent on every host, each direction; a rate cap on every host ('8mbit'). */
  loss?: number
  rate?: string
  topic: string
  lowWater: number
  highWater: number
  /** More `createNode` options for every node (keepAlive, deadTimeout, perIpRate…). */
  node: Record<string, unknown>
  /** Seconds to watch after every node has started (or converged: `timelineFrom`). */
  duration: number
  /**
   * Where the timeline and the duration count from: 'ready' (every node started; the default) or
   * 'converged' (every node also reached lowWater, waited for at most `CONVERGE_WAIT` ms; on a loaded
   * machine convergence takes longer than a fixed `at` assumes).
   */
  timelineFrom: 'ready' | 'converged'
  /** Sampling period of every node, ms. */
  sampleEvery: number
  timeline: TimelineEvent[]
}

const KEYS = ['name', 'description', 'stack', 'hosts', 'nodes', 'bootstrap', 'nat', 'loss', 'rate', 'topic', 'lowWater', 'highWater', 'node', 'duration', 'sampleEvery', 'timeline', 'timelineFrom']

/** The stacks a scenario can run. */
export const STACKS: readonly LabStack[] = ['peerwarden', 'hyperswarm', 'libp2p']

function bad (message: string): never { throw PeerwardenError.invalid(`scenario: ${message}`) }

function int (o: Record<string, unknown>, key: string, min: number, max: number, dflt?: number): number {
  const v = o[key] ?? dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`${key} must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`)
  return v
}

function fractionOf (v: unknown, field: string): { fraction: number } {
  const f = (v as { fraction?: unknown }).fraction
  if (typeof f !== 'number' || !(f > 0 && f <= 1)) bad(`${field}.fraction must be in (0, 1] (got ${JSON.stringify(f)})`)
  return { fraction: f }
}

function indices (v: unknown, field: string, count: number): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0 && x < count)) bad(`${field} must be indices below ${count}`)
  return v as number[]
}

function selector (v: unknown, field: string, nodes: number): Selector {
  if (v === 'bootstrap' || v === 'killed') return v
  if (Array.isArray(v)) return indices(v, field, nodes)
  if (v !== null && typeof v === 'object') return fractionOf(v, field)
  return bad(`${field} must be node indices, {fraction}, "bootstrap" or "killed"`)
}

/** A scenario object (parsed JSON) checked field by field, with defaults filled in. Throws ERR_INVALID_ARGUMENT naming the field. */
export function checkScenario (input: unknown): Scenario {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) bad('must be an object')
  const o = input as Record<string, unknown>
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) bad(`unknown field ${JSON.stringify(k)} (known: ${KEYS.join(', ')})`)
  if (typeof o.name !== 'string' || !/^[\w-]{1,40}$/.test(o.name)) bad('name must be 1-40 letters, digits, - or _')
  const stack = o.stack ?? 'peerwarden'
  if (!STACKS.includes(stack as LabStack)) bad(`stack must be one of ${STACKS.join(', ')} (got ${JSON.stringify(stack)})`)
  const hosts = int(o, 'hosts', 1, MAX_HOSTS)
  const nodes = int(o, 'nodes', 1, 1000)
  const bootstrap = int(o, 'bootstrap', 1, Math.min(nodes, hosts), 1)
  let nat: Scenario['nat']
  if (o.nat !== undefined) {
    const n = o.nat as Record<string, unknown>
    if (typeof n.hosts !== 'number' || !(n.hosts >= 0 && n.hosts <= 1)) bad('nat.hosts must be a fraction from 0 to 1')
    const kinds = Array.isArray(n.kind) ? n.kind as unknown[] : [n.kind]
    if (kinds.length === 0 || kinds.length > 8 || kinds.some((k) => k !== 'port-restricted' && k !== 'symmetric')) bad('nat.kind must be "port-restricted" or "symmetric", or a list of 1 to 8 of them')
    if (Math.round(n.hosts * hosts) > hosts - bootstrap) bad('nat.hosts leaves no public host for every bootstrap node')
    nat = { hosts: n.hosts as number, kind: Array.isArray(n.kind) ? [...n.kind] as NatKind[] : n.kind as NatKind }
  }
  const loss = o.loss === undefined ? undefined : percent(o.loss, 'loss')
  const rate = o.rate === undefined ? undefined : rateOf(o.rate, 'rate')
  const lowWater = int(o, 'lowWater', 0, 1000, 4)
  const highWater = int(o, 'highWater', Math.max(1, lowWater), 1000, Math.max(8, lowWater))
  if (o.node !== undefined && (o.node === null || typeof o.node !== 'object' || Array.isArray(o.node))) bad('node must be an object of createNode options')
  const timeline: TimelineEvent[] = []
  if (o.timeline !== undefined && !Array.isArray(o.timeline)) bad('timeline must be an array')
  for (const [i, raw] of ((o.timeline ?? []) as unknown[]).entries()) {
    const f = `timeline[${i}]`
    if (raw === null || typeof raw !== 'object') bad(`${f} must be an object`)
    const e = raw as Record<string, unknown>
    if (typeof e.at !== 'number' || !(e.at >= 0)) bad(`${f}.at must be seconds >= 0`)
    const at = e.at
    const hostsOf = (): number[] | undefined => e.hosts === undefined ? undefined : indices(e.hosts, `${f}.hosts`, hosts)
    if ('kill' in e) timeline.push({ at, kill: selector(e.kill, `${f}.kill`, nodes) })
    else if ('restart' in e) timeline.push({ at, restart: selector(e.restart, `${f}.restart`, nodes) })
    else if ('partition' in e) timeline.push({ at, partition: Array.isArray(e.partition) ? indices(e.partition, `${f}.partition`, hosts) : fractionOf(e.partition, `${f}.partition`) })
    else if ('heal' in e) timeline.push({ at, heal: true })
    else if ('loss' in e) timeline.push({ at, loss: percent(e.loss, `${f}.loss`), hosts: hostsOf() })
    else if ('rate' in e) timeline.push({ at, rate: e.rate === null ? null : rateOf(e.rate, `${f}.rate`), hosts: hostsOf() })
    else bad(`${f} must have one of kill, restart, partition, heal, loss, rate`)
  }
  timeline.sort((a, b) => a.at - b.at)
  return {
    name: o.name,
    description: typeof o.description === 'string' ? o.description : '',
    stack: stack as LabStack,
    hosts,
    nodes,
    bootstrap,
    nat,
    loss,
    rate,
    topic: typeof o.topic === 'string' && o.topic !== '' ? o.topic : 'lab',
    lowWater,
    highWater,
    node: (o.node ?? {}) as Record<string, unknown>,
    duration: int(o, 'duration', 1, 3600, 30),
    sampleEvery: int(o, 'sampleEvery', 100, 60_000, 1000),
    timeline,
    timelineFrom: o.timelineFrom === undefined ? 'ready' : o.timelineFrom === 'ready' || o.timelineFrom === 'converged' ? o.timelineFrom : bad(`timelineFrom must be "ready" or "converged" (got ${JSON.stringify(o.timelineFrom)})`)
  }
}

function percent (v: unknown, field: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 100)) bad(`${field} must be a percentage from 0 to 100`)
  return v
}

function rateOf (v: unknown, field: string): string {
  if (typeof v !== 'string') bad(`${field} must be a rate such as "8mbit"`)
  try { return checkRate(v) } catch (err) { return bad(`${field}: ${(err as Error).message}`) }
}

/** The scenarios that come with the repository (lab/scenarios/*.json), found from this file's place in build/ or dist/. */
export function scenarioDir (): string | undefined {
  for (const rel of ['../../lab/scenarios/', '../../../lab/scenarios/']) {
    const dir = new URL(rel, import.meta.url).pathname
    if (existsSync(dir)) return dir
  }
  return undefined
}

/** The names of the scenarios in lab/scenarios. */
export function listScenarios (): string[] {
  const dir = scenarioDir()
  return dir === undefined ? [] : readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort()
}

/** A scenario by name (lab/scenarios/<name>.json) or by path to a JSON file, checked. */
export function loadScenario (nameOrPath: string): Scenario {
  const dir = scenarioDir()
  const path = /[/.]/.test(nameOrPath) ? nameOrPath : dir === undefined ? nameOrPath : `${dir}${nameOrPath}.json`
  if (!existsSync(path)) bad(`no scenario ${JSON.stringify(nameOrPath)} (known: ${listScenarios().join(', ')}; or give a path to a .json file)`)
  let json: unknown
  try { json = JSON.parse(readFileSync(path, 'utf8')) } catch (err) { return bad(`${path}: ${(err as Error).message}`) }
  return checkScenario(json)
}

/** The members a selector picks among `count` items, bootstrap items (0 … bootstrap-1) aside for a fraction. */
export function pick (sel: number[] | { fraction: number }, count: number, bootstrap: number): number[] {
  if (Array.isArray(sel)) return [...new Set(sel)].sort((a, b) => a - b)
  const pool = Array.from({ length: count - bootstrap }, (_, i) => i + bootstrap)
  const want = Math.max(1, Math.round(pool.length * sel.fraction))
  // Evenly spread: the k-th of `want` is at k·n/want, so a third is every third, not the first third.
  return Array.from({ length: Math.min(want, pool.length) }, (_, k) => pool[Math.floor(k * pool.length / want)])
}
