import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { PeerwardenError } from '../errors.js'
import type { Logger } from '../logger.js'
import { silentLogger } from '../logger.js'
import { measure } from './measures.js'
import { LabNetwork, type HostSpec } from './network.js'
import type { HostPlan } from './plan.js'
import { parseRunnerLine, type RunnerConfig } from './samples.js'
import { pick, type Scenario, type Selector, type TimelineEvent } from './scenario.js'
import type { LabEvent, LabResult, NodeSample } from './types.js'

export type { LabEvent, LabResult, NodeSample } from './types.js'

/** How `runLab` runs. */
export interface RunLabOptions {
  logger?: Logger
  /** Called with each line of progress (the CLI prints them). */
  progress?: (line: string) => void
  /** Node processes started at once while the lab comes up. Default 4. */
  startConcurrency?: number
}

let runs = 0

/** One node process and what the controller knows of it. */
class LabNode {
  child: ChildProcess | undefined
  id = ''
  alive = false
  readonly stderr: string[] = []

  constructor (readonly index: number, readonly host: HostPlan, readonly config: RunnerConfig, readonly bootstrap: boolean) {}

  get address (): string { return `${this.config.listen}#${this.id}` }
}

/**
 * Runs a scenario on an emulated network and returns what it saw: builds the hosts (network
 * namespaces), starts a real node process per node, plays the timeline, samples every node, then
 * stops everything and removes every namespace it made — also when it fails, and on SIGINT/SIGTERM
 * (the signal is re-raised once the lab is gone).
 */
export async function runLab (scenario: Scenario, options: RunLabOptions = {}): Promise<LabResult> {
  const log = options.logger ?? silentLogger
  const progress = options.progress ?? (() => {})
  const run = `${process.pid}${String.fromCharCode(97 + (runs++ % 26))}`
  const natCount = scenario.nat === undefined ? 0 : Math.round(scenario.nat.hosts * scenario.hosts)
  const specs: HostSpec[] = Array.from({ length: scenario.hosts }, (_, i) => ({
    ...(i >= scenario.hosts - natCount && scenario.nat !== undefined ? { nat: scenario.nat.kind } : {}),
    ...(scenario.loss !== undefined ? { loss: scenario.loss } : {}),
    ...(scenario.rate !== undefined ? { rate: scenario.rate } : {})
  }))
  const network = new LabNetwork(run, specs)
  const dataRoot = mkdtempSync(join(tmpdir(), `pwlab-${run}-`))
  const nodes: LabNode[] = []
  const exitCleanup = (): void => {
    for (const n of nodes) n.child?.kill('SIGKILL')
    network.destroySync()
    rmSync(dataRoot, { recursive: true, force: true })
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    exitCleanup()
    process.kill(process.pid, signal)
  }
  process.on('exit', exitCleanup)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  const events: LabEvent[] = []
  const samples: NodeSample[] = []
  const startedAt = Date.now()
  const now = (): number => Date.now() - startedAt
  const record = (e: Omit<LabEvent, 't'>): void => {
    events.push({ t: now(), ...e })
    progress(`${(now() / 1000).toFixed(1).padStart(6)}s ${e.kind}${e.nodes !== undefined ? ` nodes ${e.nodes.join(',')}` : ''}${e.hosts !== undefined ? ` hosts ${e.hosts.join(',')}` : ''}${e.value !== undefined ? ` ${String(e.value)}` : ''}`)
  }

  const start = async (n: LabNode): Promise<void> => {
    const child = spawn('ip', ['netns', 'exec', n.host.ns, process.execPath, new URL('./runner.js', import.meta.url).pathname, JSON.stringify(n.config)], { stdio: ['ignore', 'pipe', 'pipe'] })
    n.child = child
    n.stderr.length = 0
    createInterface({ input: child.stderr! }).on('line', (l) => { n.stderr.push(l); if (n.stderr.length > 20) n.stderr.shift() })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new PeerwardenError('ERR_LAB', `node ${n.index} did not start within 30 s: ${n.stderr.join(' | ')}`)) }, 30_000)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = parseRunnerLine(line)
        if (m === undefined) return
        if (m.type === 'ready') {
          if (n.id !== '' && n.id !== m.id) log.warn({ node: n.index }, 'lab node came back with another id')
          n.id = m.id
          n.alive = true
          clearTimeout(timer)
          resolve()
        } else if (m.type === 'error') {
          clearTimeout(timer)
          reject(new PeerwardenError('ERR_LAB', `node ${n.index} failed to start: ${m.code ?? ''} ${m.message}`))
        } else if (child === n.child) {
          const { type: _type, at, ...rest } = m
          samples.push({ node: n.index, t: at - startedAt, ...rest })
        }
      })
      child.once('exit', (code, signal) => {
        if (child === n.child) n.alive = false
        clearTimeout(timer)
        reject(new PeerwardenError('ERR_LAB', `node ${n.index} exited (${signal ?? code}) before it was ready: ${n.stderr.join(' | ')}`))
      })
    })
  }

  const kill = (list: number[]): void => {
    for (const i of list) {
      const n = nodes[i]
      if (!n.alive) continue
      n.alive = false
      n.child?.kill('SIGKILL')
    }
  }

  const select = (sel: Selector): number[] => {
    if (sel === 'bootstrap') return nodes.filter((n) => n.bootstrap).map((n) => n.index)
    if (sel === 'killed') return nodes.filter((n) => !n.alive && !n.bootstrap).map((n) => n.index)
    return pick(sel, scenario.nodes, scenario.bootstrap)
  }

  let partitioned: number[] = []
  const applyEvent = async (e: TimelineEvent): Promise<void> => {
    if ('kill' in e) {
      const list = select(e.kill)
      kill(list)
      record({ kind: 'kill', nodes: list })
    } else if ('restart' in e) {
      const list = select(e.restart).filter((i) => !nodes[i].alive)
      record({ kind: 'restart', nodes: list })
      await Promise.all(list.map(async (i) => { await start(nodes[i]) }))
    } else if ('partition' in e) {
      const hosts = Array.isArray(e.partition) ? [...e.partition] : pick(e.partition, scenario.hosts, scenario.bootstrap)
      const allow = hosts.flatMap((h) => { const p = network.hosts[h]; return [p.ip, p.publicIp, ...(p.nat !== undefined ? [p.nat.lanIp] : [])] })
      for (const h of hosts) await network.setFilter(h, { loss: network.filterOf(h).loss, allow: [...new Set(allow)] })
      partitioned = hosts
      record({ kind: 'partition', hosts, nodes: nodes.filter((n) => hosts.includes(n.host.index)).map((n) => n.index) })
    } else if ('heal' in e) {
      for (const h of partitioned) await network.setFilter(h, { loss: network.filterOf(h).loss })
      record({ kind: 'heal', hosts: partitioned })
      partitioned = []
    } else if ('loss' in e) {
      const hosts = e.hosts ?? network.hosts.map((h) => h.index)
      for (const h of hosts) await network.setFilter(h, { ...network.filterOf(h), loss: e.loss })
      record({ kind: 'loss', hosts, value: e.loss })
    } else {
      const hosts = e.hosts ?? network.hosts.map((h) => h.index)
      for (const h of hosts) await network.setRate(h, e.rate ?? undefined)
      record({ kind: 'rate', hosts, value: e.rate })
    }
  }

  try {
    progress(`lab ${run}: ${scenario.hosts} hosts (${natCount === 0 ? 'no NAT' : `${natCount} behind ${scenario.nat?.kind ?? ''} NAT`}), ${scenario.nodes} nodes`)
    await network.create()
    const dir = (i: number): string => { const d = join(dataRoot, `n${i}`); mkdirSync(d, { recursive: true }); return d }
    for (let i = 0; i < scenario.nodes; i++) {
      const host = network.hosts[i % scenario.hosts]
      nodes.push(new LabNode(i, host, {
        listen: `tcp://${host.ip}:${4001 + Math.floor(i / scenario.hosts)}`,
        bootstrap: [],
        dataDir: dir(i),
        topics: [scenario.topic],
        lowWater: scenario.lowWater,
        highWater: scenario.highWater,
        sampleEvery: scenario.sampleEvery,
        dev: host.dev,
        nodeOptions: scenario.node
      }, i < scenario.bootstrap))
    }
    record({ kind: 'started' })
    const boots = nodes.filter((n) => n.bootstrap)
    for (const b of boots) {
      b.config.bootstrap = boots.filter((x) => x.id !== '').map((x) => x.address)
      await start(b)
    }
    const bootstrap = boots.map((b) => b.address)
    for (const n of nodes) if (!n.bootstrap) n.config.bootstrap = bootstrap
    const rest = nodes.filter((n) => !n.bootstrap)
    const concurrency = options.startConcurrency ?? 4
    for (let i = 0; i < rest.length; i += concurrency) {
      await Promise.all(rest.slice(i, i + concurrency).map(start))
    }
    record({ kind: 'ready' })
    const t0 = now()
    for (const e of scenario.timeline) {
      const wait = t0 + e.at * 1000 - now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      await applyEvent(e)
    }
    const wait = t0 + scenario.duration * 1000 - now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    record({ kind: 'end' })
    await stopAll(nodes)
  } finally {
    for (const n of nodes) n.child?.kill('SIGKILL')
    await network.destroy()
    rmSync(dataRoot, { recursive: true, force: true })
    process.off('exit', exitCleanup)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  const result: Omit<LabResult, 'measures'> = {
    scenario,
    run,
    startedAt,
    hosts: network.hosts.map((h) => ({ index: h.index, ip: h.ip, publicIp: h.publicIp, ...(h.nat !== undefined ? { nat: h.nat.kind } : {}) })),
    nodes: nodes.map((n) => ({ index: n.index, host: n.host.index, id: n.id, bootstrap: n.bootstrap, address: n.address })),
    events,
    samples
  }
  return { ...result, measures: measure(result) }
}

/** SIGTERM to every node still running, SIGKILL to those not gone within 3 s. */
async function stopAll (nodes: LabNode[]): Promise<void> {
  await Promise.all(nodes.filter((n) => n.alive && n.child !== undefined).map(async (n) => {
    const child = n.child!
    n.alive = false
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 3000)
      child.once('exit', () => { clearTimeout(timer); resolve() })
      child.kill('SIGTERM')
    })
  }))
}
