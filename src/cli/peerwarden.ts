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
 * `node` prints the node's id and addresses, then a status line every few seconds; Ctrl-C closes
 * cleanly. `simulate` runs many managers in virtual time and prints a line per virtual minute
 * (src/cli/simulate.ts). Bad input prints one line and exits with status 2.
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { PeerwardenError } from '../errors.js'
import { createNode, type PeerNode } from '../node/index.js'
import { serveDashboard, type Dashboard } from '../dashboard/index.js'
import { runSimulation } from './simulate.js'

function integer (name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`)
    return n
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** Counts what the status line reports, from the manager's events. */
function counters (node: PeerNode): { dials: number; failed: number; trims: number; refused: number } {
  const c = { dials: 0, failed: 0, trims: 0, refused: 0 }
  node.events.addEventListener('dial:started', () => { c.dials++ })
  node.events.addEventListener('dial:failed', () => { c.failed++ })
  node.events.addEventListener('connection:refused', () => { c.refused++ })
  node.events.addEventListener('trim', (e) => { c.trims += e.detail.closed })
  return c
}

export async function runNode (opts: {
  listen: string[]; bootstrap: string[]; topic: string[]; dataDir: string; networkKey?: string
  lowWater: number; highWater: number; status: number
  /** Serve the dashboard: true = 127.0.0.1 on a free port, or 'host:port'. */
  dashboard?: string | true
  /** The dashboard's token (needed beyond loopback, made up when not given). */
  dashboardToken?: string
}, out: (line: string) => void = (l) => { process.stdout.write(l + '\n') }): Promise<{ node: PeerNode; stop: () => Promise<void> }> {
  if (opts.lowWater > opts.highWater) throw new PeerwardenError('ERR_INVALID_ARGUMENT', `--low-water must be <= --high-water (got ${opts.lowWater} > ${opts.highWater})`)
  const node = await createNode({
    listen: opts.listen,
    bootstrap: opts.bootstrap,
    dataDir: opts.dataDir === '' ? undefined : opts.dataDir,
    networkKey: opts.networkKey,
    manager: { lowWater: opts.lowWater, highWater: opts.highWater }
  })
  const c = counters(node)
  out(`peerwarden node ${node.id}`)
  for (const a of node.addresses) out(`  listening on ${a}#${node.id}`)
  for (const t of opts.topic) await node.join(t)
  const status = (): void => {
    const s = node.manager.stats()
    out(`connections ${s.connections} (in ${s.inbound}, out ${s.outbound}) · known ${s.known} · topics ${opts.topic.length} · dials ${c.dials} (failed ${c.failed}) · trimmed ${c.trims} · refused ${c.refused}`)
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
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
  cmd.command('node')
    .description('run a node: TCP + Noise, topics, a managed set of connections')
    .option('--listen <address>', 'where to listen, tcp://host:port (repeatable; default tcp://127.0.0.1:0)', collect)
    .option('--bootstrap <address>', 'a node to start from, tcp://host:port[#id] (repeatable)', collect)
    .option('--topic <topic>', 'a topic to join (repeatable)', collect)
    .option('--data-dir <dir>', 'where the key pair and the peer store live ("" = memory only)', './.peerwarden')
    .option('--network-key <key>', 'private network: only nodes with the same key connect')
    .option('--low-water <n>', 'proactive dialing aims here', integer('--low-water', 0), 8)
    .option('--high-water <n>', 'the connection count never stays above this', integer('--high-water', 1), 16)
    .option('--status <ms>', 'status line interval', integer('--status', 100), 5000)
    .option('--dashboard [host:port]', 'serve a live view of the node (default 127.0.0.1, a free port)')
    .addOption(new Option('--dashboard-token <token>', 'a token the dashboard asks for (beyond loopback one is made up when not given)').env('PEERWARDEN_DASHBOARD_TOKEN'))
    .action(async (o: { listen?: string[]; bootstrap?: string[]; topic?: string[]; dataDir: string; networkKey?: string; lowWater: number; highWater: number; status: number; dashboard?: string | true; dashboardToken?: string }) => {
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
