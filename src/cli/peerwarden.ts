#!/usr/bin/env node
/**
 * The `peerwarden` command.
 *
 *   peerwarden node [--listen tcp://127.0.0.1:4001] [--bootstrap tcp://host:port[#id]]... [--topic t]...
 *                   [--data-dir ./.peerwarden] [--network-key k] [--low-water 8] [--high-water 16]
 *                   [--allow id|ip|cidr]... [--deny id|ip|cidr]...
 *                   [--dashboard [host:port]] [--dashboard-token t] [--metrics host:port] [--log-level info]
 *
 *   peerwarden mesh status|call …   (mesh.ts)
 *
 *   peerwarden simulate [--nodes 1000] [--bootstrap 3] [--minutes 10] [--low-water 8] [--high-water 16]
 *                       [--latency 20] [--exchange 8] [--referrals 8] [--seed 1] [--restart 0.2] [--json]
 *                       [--dashboard [host:port]]
 *                       [--report out.html] [--no-progress]
 *
 *   peerwarden lab <scenario|file.json|list|clean> [--out dir] [--nodes n] [--hosts n] [--duration s]
 *
 * `node` prints the node's id and addresses, then a line per connection change and per failure with
 * its reason (rate-limited: see log-limit.ts), and a status line when the figures changed; Ctrl-C
 * closes cleanly. `--log-level` (or `DEBUG=peerwarden:*`, which means debug) sets what is written.
 * `simulate` runs many managers in virtual time and prints a line per virtual minute
 * (simulate.ts), its progress on standard error, and with `--report` an HTML page of charts.
 * `lab` runs a scenario on emulated hosts (docs/lab.md).
 * Bad input prints one line and exits with status 2.
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { PeerwardenError } from '../errors.js'
import { requireOptional } from '../optional-dependency.js'
import { createNode, type PeerNode } from '../node/index.js'
import { serveDashboard, serveMetrics, type Dashboard, type MetricsServer } from '../dashboard/index.js'
import { systemClock } from '../clock.js'
import { createLogger, levelFromEnv, type LogLevel } from '../logger.js'
import { packageVersion } from '../version.js'
import { limitLines } from './log-limit.js'
import { Progress } from './progress.js'
import { runSimulation } from './simulate.js'
import { addMeshCommands } from './mesh.js'
import { accessEntries, checkNodeFlags } from './node-flags.js'
import { EXAMPLES, examplesText } from './examples.js'
import { labCommand } from '../lab/cli.js'

function integer (name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`)
    return n
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** Counts what the status line reports, from the manager's events (dials come from the node's own count, from the start). */
function counters (node: PeerNode): { trims: number; refused: number } {
  const c = { trims: 0, refused: 0 }
  node.events.addEventListener('connection:refused', () => { c.refused++ })
  node.events.addEventListener('trim', (e) => { c.trims += e.detail.closed })
  return c
}

/** 'HH:MM:SS' of the local time, for the start of each line the node prints. */
function clockTime (ms = Date.now()): string {
  return new Date(ms).toTimeString().slice(0, 8)
}

/** The command's version, from the package it ships in. */
export function version (): string {
  return packageVersion()
}

/** A missing better-sqlite3 (the default data directory needs it), saying how to do without it too; any other error as it is. */
function withoutDataDir (err: unknown): unknown {
  if (!(err instanceof PeerwardenError) || err.code !== 'ERR_MISSING_DEPENDENCY') return err
  return new PeerwardenError(err.code, `${err.message} (or --data-dir '' to keep nothing on disk)`, { cause: err.cause })
}

/** Runs `peerwarden node` until `stop()`: the node, its lines on `out`, and the dashboard or metrics endpoint asked for. */
export async function runNode (opts: {
  listen: string[]
  bootstrap: string[]
  topic: string[]
  dataDir: string
  networkKey?: string
  announce?: string[]
  lowWater: number
  highWater: number
  /** Peer ids, IPs, CIDRs never refused nor trimmed (the manager's `allow`). */
  allow?: string[]
  /** Peer ids, IPs, CIDRs refused and never dialled (the manager's `deny`). */
  deny?: string[]
  /** Ms between two looks at the figures: a status line is written when they changed. */
  status: number
  /** Serve the dashboard: true = 127.0.0.1 on a free port, or 'host:port'. */
  dashboard?: string | true
  /** The dashboard's (and the metrics endpoint's) token (needed beyond loopback, made up when not given). */
  dashboardToken?: string
  /** Serve `/metrics` alone at 'host:port'. */
  metrics?: string
  /** prom-client's process and Node.js metrics too, on the dashboard's or the endpoint's `/metrics`. */
  processMetrics?: boolean
  /** What the node's lines include; default `levelFromEnv()` (DEBUG=peerwarden:* is debug), else 'info'. */
  logLevel?: LogLevel
}, out: (line: string) => void = (l) => { process.stdout.write(l + '\n') }): Promise<{ node: PeerNode; stop: () => Promise<void> }> {
  checkNodeFlags(opts)
  // A dataDir needs better-sqlite3 (its lock and its peer store): checked before anything is made on disk.
  if (opts.dataDir !== '') {
    try {
      requireOptional('better-sqlite3', 'a dataDir (its lock and its peer store)')
    } catch (err) {
      throw withoutDataDir(err)
    }
  }
  const logger = limitLines(createLogger({ level: opts.logLevel ?? levelFromEnv() ?? 'info', write: out, time: clockTime }), { clock: systemClock })
  const node = await createNode({
    listen: opts.listen,
    bootstrap: opts.bootstrap,
    ...(opts.announce !== undefined && opts.announce.length > 0 ? { announce: opts.announce } : {}),
    dataDir: opts.dataDir === '' ? undefined : opts.dataDir,
    networkKey: opts.networkKey,
    manager: { lowWater: opts.lowWater, highWater: opts.highWater, allow: accessEntries(opts.allow), deny: accessEntries(opts.deny) },
    logger
  }).catch((err: unknown) => { throw opts.dataDir !== '' ? withoutDataDir(err) : err })
  const c = counters(node)
  out(`peerwarden node ${node.id}`)
  for (const a of node.addresses) out(`  listening on ${a}#${node.id}`)
  const told = node.advertised.filter((a) => !node.addresses.includes(a))
  if (told.length > 0) out(`  telling peers ${told.join(', ')}`)
  for (const t of opts.topic) await node.join(t)
  let shown = ''
  const status = (): void => {
    const s = node.stats()
    const line = `connections ${s.connections} (in ${s.inbound}, out ${s.outbound}) · known ${s.known} · topics ${opts.topic.length} · dials ${s.dials} (failed ${s.dialsFailed}) · trimmed ${c.trims} · refused ${c.refused}`
    // Quiet: a status line only when a figure changed since the last one.
    if (line === shown) return
    shown = line
    out(`${clockTime()} ${line}`)
  }
  const timer = setInterval(status, opts.status)
  const metrics = { node, ...(opts.processMetrics === true ? { defaultMetrics: true } : {}) }
  let dashboard: Dashboard | undefined
  let endpoint: MetricsServer | undefined
  try {
    if (opts.dashboard !== undefined) {
      dashboard = await serveDashboard(node.manager, { listen: opts.dashboard === true ? '127.0.0.1:0' : opts.dashboard, title: `node ${node.id.slice(0, 12)}`, token: opts.dashboardToken, metrics })
      out(`  dashboard at ${dashboard.url}`)
    }
    if (opts.metrics !== undefined) {
      endpoint = await serveMetrics(node.manager, { listen: opts.metrics, token: opts.dashboardToken, ...metrics })
      out(`  metrics at ${endpoint.url}${endpoint.token !== undefined && opts.dashboardToken === undefined ? ` (token ${endpoint.token})` : ''}`)
    }
  } catch (err) {
    clearInterval(timer)
    await dashboard?.close()
    await node.close()
    throw err
  }
  let stopped = false
  return {
    node,
    stop: async () => {
      if (stopped) return
      stopped = true
      clearInterval(timer)
      await dashboard?.close()
      await endpoint?.close()
      await node.close()
      logger.close()
      out('closed')
    }
  }
}

/** The `peerwarden` command and its subcommands (node, simulate, mesh, lab), each help ending with examples. */
export function program (): Command {
  const cmd = new Command('peerwarden')
    .description('a connection manager for peer-to-peer networks')
    .version(version(), '-V, --version', 'print the version and exit')
    .showHelpAfterError(false)
    .exitOverride()
    // Errors are written once, by main(), as `peerwarden: …`; help asked for by an error (a command
    // group without its subcommand) is still written.
    .configureOutput({ outputError: () => {} })
  cmd.command('node')
    .description('run a node: TCP + Noise, topics, a managed set of connections')
    .option('--listen <address>', 'where to listen, tcp://host:port (repeatable; default tcp://127.0.0.1:0)', collect)
    .option('--bootstrap <address>', 'a node to start from, tcp://host:port[#id] (repeatable)', collect)
    .option('--announce <address>', 'an address to tell peers, tcp://host:port (repeatable; default: the listen addresses with 0.0.0.0/:: expanded, plus what peers observe)', collect)
    .option('--topic <topic>', 'a topic to join (repeatable)', collect)
    .option('--data-dir <dir>', 'where the key pair and the peer store live ("" = memory only)', './.peerwarden')
    .option('--network-key <key>', 'private network: only nodes with the same key connect')
    .option('--low-water <n>', 'proactive dialing aims here', integer('--low-water', 0), 8)
    .option('--high-water <n>', 'the connection count never stays above this', integer('--high-water', 1), 16)
    .option('--allow <entry>', 'a peer id, IP or CIDR never refused nor trimmed (repeatable)', collect)
    .option('--deny <entry>', 'a peer id, IP or CIDR refused and never dialled (repeatable)', collect)
    .option('--status <ms>', 'how often the figures are looked at: a status line when they changed', integer('--status', 100), 5000)
    .option('--dashboard [host:port]', 'serve a live view of the node (default 127.0.0.1, a free port)')
    .addOption(new Option('--dashboard-token <token>', 'a token the dashboard and the metrics endpoint ask for (beyond loopback one is made up when not given)').env('PEERWARDEN_DASHBOARD_TOKEN'))
    .option('--metrics <host:port>', 'serve Prometheus /metrics alone (no page) at host:port')
    .option('--process-metrics', 'add the process and Node.js metrics to /metrics')
    .addOption(new Option('--log-level <level>', 'what the node writes: debug, info, warn, error or silent (default info; DEBUG=peerwarden:* means debug)').choices(['debug', 'info', 'warn', 'error', 'silent']))
    .action(async (o: { listen?: string[]; bootstrap?: string[]; announce?: string[]; topic?: string[]; dataDir: string; networkKey?: string; lowWater: number; highWater: number; allow?: string[]; deny?: string[]; status: number; dashboard?: string | true; dashboardToken?: string; metrics?: string; processMetrics?: boolean; logLevel?: LogLevel }) => {
      const { stop } = await runNode({ ...o, listen: o.listen ?? ['tcp://127.0.0.1:0'], bootstrap: o.bootstrap ?? [], topic: o.topic ?? [] })
      const shutdown = (): void => { stop().then(() => process.exit(0), () => process.exit(1)) }
      process.once('SIGINT', shutdown)
      process.once('SIGTERM', shutdown)
    })
  cmd.command('simulate')
    .description('many connection managers on one in-memory network, in virtual time: a line per virtual minute')
    .option('--nodes <n>', 'nodes in the network, bootstrap nodes included', integer('--nodes', 2), 1000)
    .option('--bootstrap <n>', 'bootstrap nodes (every other node starts knowing only them)', integer('--bootstrap', 1), 3)
    .option('--minutes <n>', 'virtual minutes to run', integer('--minutes', 1), 10)
    .option('--low-water <n>', 'proactive dialing aims here', integer('--low-water', 0), 8)
    .option('--high-water <n>', 'the connection count never stays above this', integer('--high-water', 1), 16)
    .option('--latency <ms>', 'dial latency', integer('--latency', 0), 20)
    .option('--exchange <n>', 'peers each side of a new connection tells the other about', integer('--exchange', 0), 8)
    .option('--referrals <n>', 'peers a full node refers a refused dialer to, as the real node does (0 = none)', integer('--referrals', 0), 8)
    .option('--seed <n>', 'seed of the simulation\'s randomness', integer('--seed', 0), 1)
    .option('--restart <fraction>', 'after the last minute, restart this fraction of the nodes with their peer stores', fraction('--restart'), 0)
    .option('--json', 'one JSON object per line instead of a table')
    .option('--dashboard [host:port]', 'watch it in a browser (default 127.0.0.1, a free port), paced at 10 virtual seconds per second')
    .option('--report <file>', 'write an HTML page with charts of the run (connections per percentile, bootstrap load, dials and failures, the graph at the end)')
    .option('--no-progress', 'no progress on standard error (a bar on a terminal, else a line every few seconds)')
    .action(async (o: { nodes: number; bootstrap: number; minutes: number; lowWater: number; highWater: number; latency: number; exchange: number; referrals: number; seed: number; restart: number; json?: boolean; dashboard?: string | true; report?: string; progress: boolean }) => {
      const { progress, ...options } = o
      const bar = progress ? new Progress({ write: (text) => { process.stderr.write(text) }, tty: process.stderr.isTTY, now: () => performance.now() }) : undefined
      await runSimulation({ ...options, json: o.json === true }, undefined, bar)
    })
  addMeshCommands(cmd)
  cmd.addCommand(labCommand().copyInheritedSettings(cmd))
  addExamples(cmd, '')
  return cmd
}

/** Every command's help ends with its examples (examples.ts), the subcommands' too. */
function addExamples (command: Command, path: string): void {
  const lines = EXAMPLES[path]
  if (lines !== undefined) command.addHelpText('after', examplesText(lines))
  for (const sub of command.commands) addExamples(sub, path === '' ? sub.name() : `${path} ${sub.name()}`)
}

function fraction (name: string): (value: string) => number {
  return (value) => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} must be a fraction between 0 and 1`)
    return n
  }
}

async function main (): Promise<void> {
  // `peerwarden lab list | head`: a reader that goes away ends the command quietly, not with an EPIPE stack.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); else throw err })
  if (process.argv.length <= 2) {
    process.stdout.write(program().helpInformation())
    process.exit(2)
  }
  try {
    await program().parseAsync(process.argv)
  } catch (err) {
    const e = err as { code?: string; message?: string; exitCode?: number }
    // Help asked for exits 0; help shown for a wrong invocation (a command group without its subcommand) exits 2.
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(e.exitCode === undefined || e.exitCode === 0 ? 0 : 2)
    const message = (e.message ?? String(err)).replace(/^error: /, '')
    process.stderr.write(`peerwarden: ${message}\n`)
    process.exit(2)
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/peerwarden') === true || process.argv[1]?.endsWith('peerwarden.js') === true) {
  void main()
}
