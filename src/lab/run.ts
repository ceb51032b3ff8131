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
import { parseRunnerLine, type LabStack, type RunnerConfig } from './samples.js'
import { natKinds, pick, type Scenario, type Selector, type TimelineEvent } from './scenario.js'
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

/** A node process that does not print its first line within this is a failed start. */
const START_TIMEOUT = 60_000
/** With `timelineFrom: 'converged'`, the timeline starts after this at the latest (ms after 'ready'). */
export const CONVERGE_WAIT = 60_000
/** SIGTERM, then SIGKILL after this. */
const STOP_GRACE = 3000

/** The node process of each stack. */
const RUNNERS: Record<LabStack, string> = { peerwarden: './runner.js', hyperswarm: './runner-hyperswarm.js', libp2p: './runner-libp2p.js' }

/** Labs this process ran: the letter after the pid in the run id. */
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

/** The hosts of a scenario: the last `nat.hosts` of them behind NATs (the kinds in turn), loss and rate on all. */
export function hostSpecs (scenario: Scenario): HostSpec[] {
  const natCount = scenario.nat === undefined ? 0 : Math.round(scenario.nat.hosts * scenario.hosts)
  const kinds = natKinds(scenario.nat)
  const first = scenario.hosts - natCount
  return Array.from({ length: scenario.hosts }, (_, i) => ({
    ...(i >= first && kinds.length > 0 ? { nat: kinds[(i - first) % kinds.length]! } : {}),
    ...(scenario.loss !== undefined ? { loss: scenario.loss } : {}),
    ...(scenario.rate !== undefined ? { rate: scenario.rate } : {})
  }))
}

/**
 * One run: the network, the node processes, what they reported and what was done to them.
 *
 * Rules:
 * - Cleanup (`exitCleanup`) is registered before anything is made and runs on exit, SIGINT and SIGTERM
 *   (then the signal is raised again, so the process still ends as the signal says).
 * - A node's samples count only from its current process (a killed one's late lines are dropped).
 * - Timeline events run in order, each finished (a restart: every node ready) before the next.
 */
class LabRun {
  readonly run = `${process.pid}${String.fromCharCode(97 + (runs++ % 26))}`
  readonly network: LabNetwork
  readonly nodes: LabNode[] = []
  readonly events: LabEvent[] = []
  readonly samples: NodeSample[] = []
  readonly startedAt = Date.now()
  private readonly dataRoot = mkdtempSync(join(tmpdir(), `pwlab-${this.run}-`))
  private partitioned: number[] = []
  private readonly log: Logger
  private readonly progress: (line: string) => void

  constructor (readonly scenario: Scenario, options: RunLabOptions) {
    this.log = options.logger ?? silentLogger
    this.progress = options.progress ?? (() => {})
    this.network = new LabNetwork(this.run, hostSpecs(scenario))
    process.on('exit', this.exitCleanup)
    process.once('SIGINT', this.onSignal)
    process.once('SIGTERM', this.onSignal)
  }

  /** ms since the run began. */
  now (): number { return Date.now() - this.startedAt }

  /** Builds the network, starts the bootstrap nodes one by one, then the others `concurrency` at a time. */
  async setUp (concurrency: number): Promise<void> {
    const s = this.scenario
    const natted = this.network.hosts.filter((h) => h.nat !== undefined).length
    this.progress(`lab ${this.run} (${s.stack}): ${s.hosts} hosts (${natted === 0 ? 'no NAT' : `${natted} behind ${natKinds(s.nat).join('/')} NAT`}), ${s.nodes} nodes`)
    await this.network.create()
    for (let i = 0; i < s.nodes; i++) {
      const host = this.network.hosts[i % s.hosts]
      const dataDir = join(this.dataRoot, `n${i}`)
      mkdirSync(dataDir, { recursive: true })
      this.nodes.push(new LabNode(i, host, {
        role: i < s.bootstrap ? 'bootstrap' : 'node',
        listen: `tcp://${host.ip}:${4001 + Math.floor(i / s.hosts)}`,
        bootstrap: [],
        dataDir,
        topics: [s.topic],
        lowWater: s.lowWater,
        highWater: s.highWater,
        sampleEvery: s.sampleEvery,
        dev: host.dev,
        nodeOptions: s.node
      }, i < s.bootstrap))
    }
    this.record({ kind: 'started' })
    const boots = this.nodes.filter((n) => n.bootstrap)
    for (const b of boots) {
      b.config.bootstrap = boots.filter((x) => x.id !== '').map((x) => x.address)
      await this.start(b)
    }
    const rest = this.nodes.filter((n) => !n.bootstrap)
    for (const n of rest) n.config.bootstrap = boots.map((b) => b.address)
    for (let i = 0; i < rest.length; i += concurrency) {
      await Promise.all(rest.slice(i, i + concurrency).map(async (n) => { await this.start(n) }))
    }
    this.record({ kind: 'ready' })
  }

  /** Plays the timeline from now (or from convergence: `timelineFrom`), then waits out the duration. */
  async play (): Promise<void> {
    if (this.scenario.timelineFrom === 'converged') await this.converge()
    const t0 = this.now()
    const until = async (t: number): Promise<void> => {
      const wait = t0 + t * 1000 - this.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
    for (const e of this.scenario.timeline) {
      await until(e.at)
      await this.apply(e)
    }
    await until(this.scenario.duration)
    this.record({ kind: 'end' })
  }

  /**
   * Waits until every node reached lowWater by its samples (the measure of convergence), checked
   * every sample period, for at most CONVERGE_WAIT; records 'converged' when it did.
   */
  private async converge (): Promise<void> {
    const deadline = this.now() + CONVERGE_WAIT
    while (this.now() < deadline) {
      if (this.result().measures.convergedAt !== null) { this.record({ kind: 'converged' }); return }
      await new Promise((resolve) => setTimeout(resolve, this.scenario.sampleEvery))
    }
  }

  /** SIGTERM to every node still running, SIGKILL to those not gone within `STOP_GRACE`. */
  async stopAll (): Promise<void> {
    await Promise.all(this.nodes.filter((n) => n.alive && n.child !== undefined).map(async (n) => {
      const child = n.child!
      n.alive = false
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { child.kill('SIGKILL') }, STOP_GRACE)
        child.once('exit', () => { clearTimeout(timer); resolve() })
        child.kill('SIGTERM')
      })
    }))
  }

  /** Kills what is left, removes the network and the data directories, lets the signals go. */
  async tearDown (): Promise<void> {
    for (const n of this.nodes) n.child?.kill('SIGKILL')
    await this.network.destroy()
    rmSync(this.dataRoot, { recursive: true, force: true })
    process.off('exit', this.exitCleanup)
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
  }

  result (): LabResult {
    const r: Omit<LabResult, 'measures'> = {
      scenario: this.scenario,
      run: this.run,
      startedAt: this.startedAt,
      hosts: this.network.hosts.map((h) => ({ index: h.index, ip: h.ip, publicIp: h.publicIp, ...(h.nat !== undefined ? { nat: h.nat.kind } : {}) })),
      nodes: this.nodes.map((n) => ({ index: n.index, host: n.host.index, id: n.id, bootstrap: n.bootstrap, address: n.address })),
      events: this.events,
      samples: this.samples
    }
    return { ...r, measures: measure(r) }
  }

  private readonly exitCleanup = (): void => {
    for (const n of this.nodes) n.child?.kill('SIGKILL')
    this.network.destroySync()
    rmSync(this.dataRoot, { recursive: true, force: true })
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.exitCleanup()
    process.kill(process.pid, signal)
  }

  private record (e: Omit<LabEvent, 't'>): void {
    const t = this.now()
    this.events.push({ t, ...e })
    const about = [
      e.nodes !== undefined ? ` nodes ${e.nodes.join(',')}` : '',
      e.hosts !== undefined ? ` hosts ${e.hosts.join(',')}` : '',
      e.value !== undefined ? ` ${String(e.value)}` : ''
    ].join('')
    this.progress(`${(t / 1000).toFixed(1).padStart(6)}s ${e.kind}${about}`)
  }

  /** Starts (or restarts) a node's process; resolves once it printed 'ready'. */
  private async start (n: LabNode): Promise<void> {
    const runner = new URL(RUNNERS[this.scenario.stack], import.meta.url).pathname
    const child = spawn('ip', ['netns', 'exec', n.host.ns, process.execPath, runner, JSON.stringify(n.config)], { stdio: ['ignore', 'pipe', 'pipe'] })
    n.child = child
    n.stderr.length = 0
    createInterface({ input: child.stderr! }).on('line', (l) => { n.stderr.push(l); if (n.stderr.length > 20) n.stderr.shift() })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new PeerwardenError('ERR_LAB', `node ${n.index} did not start within ${START_TIMEOUT / 1000} s: ${n.stderr.join(' | ')}`)) }, START_TIMEOUT)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = parseRunnerLine(line)
        if (m === undefined) return
        if (m.type === 'ready') {
          if (n.id !== '' && n.id !== m.id) this.log.warn({ node: n.index }, 'lab node came back with another id')
          n.id = m.id
          n.alive = true
          clearTimeout(timer)
          resolve()
        } else if (m.type === 'error') {
          clearTimeout(timer)
          reject(new PeerwardenError('ERR_LAB', `node ${n.index} failed to start: ${m.code ?? ''} ${m.message}`))
        } else if (child === n.child) {
          const { type: _type, at, ...rest } = m
          this.samples.push({ node: n.index, t: at - this.startedAt, ...rest })
        }
      })
      child.once('exit', (code, signal) => {
        if (child === n.child) n.alive = false
        clearTimeout(timer)
        // After 'ready' this changes nothing (the promise is settled).
        reject(new PeerwardenError('ERR_LAB', `node ${n.index} exited (${signal ?? code}) before it was ready: ${n.stderr.join(' | ')}`))
      })
    })
  }

  private select (sel: Selector): number[] {
    if (sel === 'bootstrap') return this.nodes.filter((n) => n.bootstrap).map((n) => n.index)
    if (sel === 'killed') return this.nodes.filter((n) => !n.alive && !n.bootstrap).map((n) => n.index)
    return pick(sel, this.scenario.nodes, this.scenario.bootstrap)
  }

  private async apply (e: TimelineEvent): Promise<void> {
    const net = this.network
    const allHosts = (): number[] => net.hosts.map((h) => h.index)
    if ('kill' in e) {
      const list = this.select(e.kill)
      for (const i of list) {
        const n = this.nodes[i]
        if (!n.alive) continue
        n.alive = false
        n.child?.kill('SIGKILL')
      }
      this.record({ kind: 'kill', nodes: list })
    } else if ('restart' in e) {
      const list = this.select(e.restart).filter((i) => !this.nodes[i].alive)
      this.record({ kind: 'restart', nodes: list })
      await Promise.all(list.map(async (i) => { await this.start(this.nodes[i]) }))
    } else if ('partition' in e) {
      const hosts = Array.isArray(e.partition) ? [...e.partition] : pick(e.partition, this.scenario.hosts, this.scenario.bootstrap)
      // Members reach each other at every address they have: their own, their router's both sides.
      const allow = [...new Set(hosts.flatMap((h) => { const p = net.hosts[h]; return [p.ip, p.publicIp, ...(p.nat !== undefined ? [p.nat.lanIp] : [])] }))]
      for (const h of hosts) await net.setFilter(h, { loss: net.filterOf(h).loss, allow })
      this.partitioned = hosts
      this.record({ kind: 'partition', hosts, nodes: this.nodes.filter((n) => hosts.includes(n.host.index)).map((n) => n.index) })
    } else if ('heal' in e) {
      for (const h of this.partitioned) await net.setFilter(h, { loss: net.filterOf(h).loss })
      this.record({ kind: 'heal', hosts: this.partitioned })
      this.partitioned = []
    } else if ('loss' in e) {
      const hosts = e.hosts ?? allHosts()
      for (const h of hosts) await net.setFilter(h, { ...net.filterOf(h), loss: e.loss })
      this.record({ kind: 'loss', hosts, value: e.loss })
    } else {
      const hosts = e.hosts ?? allHosts()
      for (const h of hosts) await net.setRate(h, e.rate ?? undefined)
      this.record({ kind: 'rate', hosts, value: e.rate })
    }
  }
}

/**
 * Runs a scenario on an emulated network and returns what it saw: builds the hosts (network
 * namespaces), starts a real node process per node, plays the timeline, samples every node, then
 * stops everything and removes every namespace it made — also when it fails, and on SIGINT/SIGTERM
 * (the signal is raised again once the lab is gone).
 */
export async function runLab (scenario: Scenario, options: RunLabOptions = {}): Promise<LabResult> {
  const lab = new LabRun(scenario, options)
  try {
    await lab.setUp(options.startConcurrency ?? 4)
    await lab.play()
    await lab.stopAll()
  } finally {
    await lab.tearDown()
  }
  return lab.result()
}
