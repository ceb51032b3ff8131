/**
 * Hyperswarm on a local testnet: every swarm's DHT node comes from `testnet.createNode()` (bound to
 * 127.0.0.1, bootstrapped on the testnet only; never the public bootstrap nodes).
 */
import { randomBytes } from 'node:crypto'
import Hyperswarm from 'hyperswarm'
import createTestnet from '@hyperswarm/testnet'
import { nowMs, withTimeout } from './common.js'
import type { MeshResult } from './peerwarden.js'

/**
 * `n` swarms on a 3-node local testnet join one topic (server + client) one after another, each
 * after the previous one's `join().flushed()` (Hyperswarm's best case: swarms that all join at the
 * same instant may never find each other). Resolves when every swarm holds at least `lowWater`
 * connections, or after `timeoutMs` (covering the joins too).
 */
export async function hyperswarmMesh (n: number, timeoutMs: number, lowWater = 3, dhtNodes = 3): Promise<MeshResult & { connErrors: number }> {
  const testnet = await createTestnet(dhtNodes, { host: '127.0.0.1' })
  const swarms: Hyperswarm[] = []
  let connErrors = 0
  try {
    const tCreate = nowMs()
    for (let i = 0; i < n; i++) swarms.push(new Hyperswarm({ dht: testnet.createNode() }))
    const atLow = (s: Hyperswarm): boolean => s.connections.size >= lowWater
    const full = new Promise<void>((resolve) => {
      const check = (): void => { if (swarms.every(atLow)) resolve() }
      for (const s of swarms) {
        s.on('connection', (conn) => {
          conn.on('error', () => { connErrors++ })
          check()
        })
      }
    })
    await Promise.all(swarms.map(async (s) => { await s.dht.fullyBootstrapped() }))
    const topic = randomBytes(32)
    const tJoin = nowMs()
    let stop = false
    const run = (async () => {
      for (const s of swarms) {
        if (stop) return
        await s.join(topic, { server: true, client: true }).flushed()
      }
      await full
    })()
    let joinMs: number | undefined
    let totalMs: number | undefined
    try {
      await withTimeout(run, timeoutMs, `hyperswarm mesh of ${n}`)
      const t = nowMs()
      joinMs = t - tJoin
      totalMs = t - tCreate
    } catch {
      stop = true // timed out: reported as such
    }
    return {
      joinMs,
      totalMs,
      atLowWater: swarms.filter(atLow).length,
      atLowWaterWithoutBootstrap: swarms.filter(atLow).length,
      failedHandshakes: 0,
      connErrors
    }
  } finally {
    try {
      await withTimeout(Promise.all(swarms.map(async (s) => { await s.destroy() })), 10_000, 'hyperswarm destroy')
    } catch {
      await Promise.all(swarms.map(async (s) => { await s.destroy({ force: true }).catch(() => {}) }))
    }
    await withTimeout(testnet.destroy(), 10_000, 'testnet destroy').catch(() => {})
  }
}
