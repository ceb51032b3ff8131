#!/usr/bin/env node
/**
 * One lab node: a real peerwarden node (`createNode`) in the host namespace it was started in
 * (`ip netns exec <ns> node runner.js '<json>'`), reporting on stdout, one JSON object a line:
 *
 *   {"type":"ready","id":…,"addresses":[…],"advertised":[…]}      once listening
 *   {"type":"sample","at":<ms since epoch>,"connections":…,…}      every `sampleEvery` ms
 *
 * SIGTERM closes the node cleanly; the controller kills it with SIGKILL to emulate a crash. What the
 * controller sends is trusted (it made the process); the node itself treats peers as it always does.
 */
import { readFileSync } from 'node:fs'
import { createNode } from '../node/index.js'
import type { RunnerConfig, Sample } from './samples.js'

/** Bytes received and sent by the namespace's interface `dev`, from /proc/net/dev (which is per network namespace). */
function interfaceBytes (dev: string): { rx: number; tx: number } {
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

async function main (): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as RunnerConfig
  const node = await createNode({
    listen: [config.listen],
    bootstrap: config.bootstrap,
    dataDir: config.dataDir,
    ...(config.announce !== undefined ? { announce: config.announce } : {}),
    ...config.nodeOptions,
    manager: { lowWater: config.lowWater, highWater: config.highWater }
  })
  const print = (o: object): void => { process.stdout.write(JSON.stringify(o) + '\n') }
  print({ type: 'ready', id: node.id, addresses: node.addresses, advertised: node.advertised })
  for (const t of config.topics) void node.join(t).catch(() => undefined)
  const sample = (): void => {
    const s = node.stats()
    const bytes = interfaceBytes(config.dev)
    const out: Sample = {
      type: 'sample',
      at: Date.now(),
      connections: s.connections,
      inbound: s.inbound,
      outbound: s.outbound,
      known: s.known,
      dials: s.dials,
      dialsFailed: s.dialsFailed,
      refusedEarly: s.refusedEarly,
      refusedRate: s.refusedRate,
      refusedPerIp: s.refusedPerIp,
      failedHandshakes: s.failedHandshakes,
      peers: [...new Set(node.connections().map((c) => c.peer))],
      inboundPeers: [...new Set(node.connections().filter((c) => c.direction === 'inbound').map((c) => c.peer))],
      advertised: node.advertised,
      rx: bytes.rx,
      tx: bytes.tx
    }
    print(out)
  }
  sample()
  const timer = setInterval(sample, config.sampleEvery)
  process.once('SIGTERM', () => {
    clearInterval(timer)
    node.close().then(() => process.exit(0), () => process.exit(1))
  })
}

main().catch((err: unknown) => {
  process.stdout.write(JSON.stringify({ type: 'error', message: (err as Error).message, code: (err as { code?: string }).code }) + '\n')
  process.exit(1)
})
