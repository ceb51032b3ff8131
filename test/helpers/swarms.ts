import type { ManagedSwarm } from '../../src/adapters/hyperswarm.js'
import { within } from './wait.js'

const noop = (): void => {}

/**
 * Tears down swarms of a local testnet whatever state they are in: the managers first, then each
 * swarm (forced if a graceful destroy hangs), then the testnet; each step bounded.
 */
export async function stopSwarms (managed: readonly ManagedSwarm[], swarms: ReadonlyArray<{ destroy: (opts?: { force?: boolean }) => Promise<unknown> }>, testnet: { destroy: () => Promise<unknown> } | undefined): Promise<void> {
  const bounded = async (p: Promise<unknown>, ms: number): Promise<void> => { await within(p, ms, 'teardown').catch(noop) }
  await bounded(Promise.allSettled(managed.map(async (m) => { await m.close() })), 5_000)
  await bounded(Promise.allSettled(swarms.map(async (s) => { await s.destroy() })), 8_000)
  await bounded(Promise.allSettled(swarms.map(async (s) => { await s.destroy({ force: true }) })), 5_000)
  if (testnet !== undefined) await bounded(testnet.destroy(), 5_000)
}
