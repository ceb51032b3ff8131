#!/usr/bin/env node
/**
 * The `peerwarden` command.
 *
 *   peerwarden node [--listen tcp://127.0.0.1:4001] [--bootstrap tcp://host:port[#id]]... [--topic t]...
 *                   [--data-dir ./.peerwarden] [--network-key k] [--low-water 8] [--high-water 16]
 *                   [--dashboard [host:port]] [--dashboard-token t]
 *
 *   peerwarden simulate [--nodes 1000] [--bootstrap 3] [--minutes 10] [--low-water 8] [--high-water 16]
 *                       [--latency 20] [--exchange 8] [--referrals 8] [--seed 1] [--restart 0.2] [--json]
 *
 *   peerwarden lab <scenario|file.json|list|clean> [--out dir] [--nodes n] [--hosts n] [--duration s]
 *
 * `node` prints the node's id and addresses, then a status line every few seconds; Ctrl-C closes
 * cleanly. `simulate` runs many managers in virtual time and prints a line per virtual minute
 * (src/cli/simulate.ts). `lab` runs a scenario on emulated hosts (src/lab). Bad input prints one line and exits with status 2.
 */
import { readFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import { PeerwardenError } from '../errors.js'
import { createNode, type PeerNode } from '../node/index.js'
import { parseTcpAddress } from '../node/transport.js'
import { serveDashboard, type Dashboard } from '../dashboard/index.js'
import { runSimulation } from './simulate.js'
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
function clockTime (): string {
  return new Date().toTimeString().slice(0, 8)
}

/**
 * One line per failure, saying why (`code`, address, the message): dials that failed (a wrong
 * bootstrap id is ERR_PEER_MISMATCH, a network-key mismatch ERR_NETWORK_KEY…), inbound handshakes
 * that failed, and peers that broke the protocol. The same code and address print at most once per
 * `every` ms; how many were held back is said with the next line that prints.
 */
function reportFailures (node: PeerNode, out: (line: string) => void, every = 30_000): void {
  const last = new Map<string, number>()
  let held = 0
  const report = (code: string, address: string, message: string): void => {
    const key = `${code} ${address}`
    const now = Date.now()
    const at = last.get(key)
    if (at !== undefined && now - at < every) { held++; return }
    if (last.size > 1000) last.clear()
    last.set(key, now)
    const more = held > 0 ? ` (${held} similar held back)` : ''
    held = 0
    out(`${clockTime()} ${code} ${address}: ${message}${more}`)
  }
  const codeOf = (err: Error): string => (err as { code?: string }).code ?? 'ERR_UNKNOWN'
  const why = (err: Error): string => {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    return cause?.code !== undefined && !err.message.includes(cause.code) ? `${err.message} (${cause.code})` : err.message
  }
  node.events.addEventListener('dial:failed', (e) => { report(codeOf(e.detail.error), e.detail.address, `dial failed: ${why(e.detail.error)}`) })
  node.events.addEventListener('handshake:failed', (e) => { report(codeOf(e.detail.error), e.detail.address, `inbound handshake failed: ${why(e.detail.error)}`) })
  node.events.addEventListener('protocol:error', (e) => { report('ERR_PROTOCOL', e.detail.address, `peer ${e.detail.peer.slice(0, 12)}… broke the protocol: ${e.detail.reason}`) })
}

/** The command's version, from the package it ships in. */
export function version (): string {
  // dist/cli/ in the package; build/src/cli/ when run from the repository's test build.
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'peerwarden' && typeof pkg.version === 'string') return pkg.version
    } catch { /* not here */ }
  }
  return 'unknown'
}

/** Every flag of `peerwarden node` checked before anything starts: the first problem, named, as a PeerwardenError. */
export function checkNodeFlags (opts: { listen: string[]; bootstrap: string[]; announce?: string[]; lowWater: number; highWater: number; dashboard?: string | true }): void {
  for (const [flag, list] of [['--listen', opts.listen], ['--bootstrap', opts.bootstrap], ['--announce', opts.announce ?? []]] as const) {
    for (const a of list) {
      try { parseTcpAddress(a) } catch (err) { throw PeerwardenError.invalid(`${flag} ${(err as Error).message}`) }
    }
  }
  if (opts.lowWater > opts.highWater) throw PeerwardenError.invalid(`--low-water must be <= --high-water (got ${opts.lowWater} > ${opts.highWater})`)
  if (typeof opts.dashboard === 'string') {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(opts.dashboard) ?? /^(\d+)$/.exec(opts.dashboard)
    const port = m === null ? NaN : Number(m[m.length - 1])
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw PeerwardenError.invalid(`--dashboard must be host:port or a port (got ${JSON.stringify(opts.dashboard)})`)
  }
}

export async function runNode (opts: {
  listen: string[]
  bootstrap: string[]
  topic: string[]
  dataDir: string
  networkKey?: string
  announce?: string[]
  lowWater: number
  highWater: number
  status: number
  /** Serve the dashboard: true = 127.0.0.1 on a free port, or 'host:port'. */
  dashboard?: string | true
  /** The dashboard's token (needed beyond loopback, made up when not given). */
  dashboardToken?: string
}, out: (line: string) => void = (l) => { process.stdout.write(l + '\n') }): Promise<{ node: PeerNode; stop: () => Promise<void> }> {
  checkNodeFlags(opts)
  const node = await createNode({
    listen: opts.listen,
    bootstrap: opts.bootstrap,
    ...(opts.announce !== undefined && opts.announce.length > 0 ? { announce: opts.announce } : {}),
    dataDir: opts.dataDir === '' ? undefined : opts.dataDir,
    networkKey: opts.networkKey,
    manager: { lowWater: opts.lowWater, highWater: opts.highWater }
  })
  const c = counters(node)
  reportFailures(node, out)
  out(`peerwarden node ${node.id}`)
  for (const a of node.addresses) out(`  listening on ${a}#${node.id}`)
  const told = node.advertised.filter((a) => !node.addresses.includes(a))
  if (told.length > 0) out(`  telling peers ${told.join(', ')}`)
  for (const t of opts.topic) await node.join(t)
  const status = (): void => {
    const s = node.stats()
    out(`${clockTime()} connections ${s.connections} (in ${s.inbound}, out ${s.outbound}) · known ${s.known} · topics ${opts.topic.length} · dials ${s.dials} (failed ${s.dialsFailed}) · trimmed ${c.trims} · refused ${c.refused}`)
  }
  const timer = setInterval(status, opts.status)
  let dashboard: Dashboard | undefined
  if (opts.dashboard !== undefined) {
    try {
      dashboard = await serveDashboard(node.manager, { listen: opts.dashboard === true ? '127.0.0.1:0' : opts.dashboard, title: `node ${node.id.slice(0, 12)}`, token: opts.dashboardToken })
    } catch (err) {
      clearInterval(timer)
      await node.close()
      throw err
    }
    out(`  dashboard at ${dashboard.url}`)
  }
  let stopped = false
  return {
    node,
    stop: async () => {
      if (stopped) return
      stopped = true
      clearInterval(timer)
      await dashboard?.close()
      await node.close()
      out('closed')
    }
  }
}

export function program (): Command {
  const cmd = new Command('peerwarden')
    .description('a connection manager for peer-to-peer networks')
    .version(version(), '-V, --version', 'print the version and exit')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
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
    .option('--status <ms>', 'status line interval', integer('--status', 100), 5000)
    .option('--dashboard [host:port]', 'serve a live view of the node (default 127.0.0.1, a free port)')
    .addOption(new Option('--dashboard-token <token>', 'a token the dashboard asks for (beyond loopback one is made up when not given)').env('PEERWARDEN_DASHBOARD_TOKEN'))
    .action(async (o: { listen?: string[]; bootstrap?: string[]; announce?: string[]; topic?: string[]; dataDir: string; networkKey?: string; lowWater: number; highWater: number; status: number; dashboard?: string | true; dashboardToken?: string }) => {
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
    .action(async (o: { nodes: number; bootstrap: number; minutes: number; lowWater: number; highWater: number; latency: number; exchange: number; referrals: number; seed: number; restart: number; json?: boolean }) => {
      await runSimulation({ ...o, json: o.json === true })
    })
  cmd.addCommand(labCommand().copyInheritedSettings(cmd))
  return cmd
}

function fraction (name: string): (value: string) => number {
  return (value) => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} must be a fraction between 0 and 1`)
    return n
  }
}

async function main (): Promise<void> {
  if (process.argv.length <= 2) {
    process.stdout.write(program().helpInformation())
    process.exit(2)
  }
  try {
    await program().parseAsync(process.argv)
  } catch (err) {
    const e = err as { code?: string; message?: string; exitCode?: number }
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0)
    const message = (e.message ?? String(err)).replace(/^error: /, '')
    process.stderr.write(`peerwarden: ${message}\n`)
    process.exit(2)
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/peerwarden') === true || process.argv[1]?.endsWith('peerwarden.js') === true) {
  void main()
}
