import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startServer, type Server } from '../adapters/ssb-servers.js'
import { until, within } from '../helpers/wait.js'

// What a hostile SSB peer can send through secret-stack/muxrpc into the plugin: it connects with a
// server that has the plugin too (so its RPC knows our manifest) and calls every method, with absurd
// arguments, thousands of times, and opens sources it never reads. The plugin's methods are open to
// the server's own key only (`permissions: { anonymous: { allow: [] } }`): every call is refused by
// muxrpc before it reaches peerwarden's code, and the victim's manager is untouched.

type Cb = (err: Error | null, value?: unknown) => void
interface HostileRpc {
  id: string
  closed: boolean
  close(err: unknown, cb?: () => void): void
  peerwarden: {
    peers: Record<'add' | 'setPriority' | 'setLongTerm' | 'list', (...args: unknown[]) => void>
    connections: Record<'start' | 'stop' | 'setMax' | 'setLifetime' | 'remotePeerConnected' | 'connectNow', (...args: unknown[]) => void>
    connection: { errors(): (end: unknown, cb: Cb) => void }
    initialSync: Record<'start' | 'stop', (...args: unknown[]) => void>
  }
}

test('a hostile SSB peer calling every peerwarden method thousands of times, with absurd arguments, and opening sources it never reads, is refused by muxrpc each time; the manager is untouched', { timeout: 60_000 }, async (t) => {
  const victim = await startServer({ config: { lowWater: 1, highWater: 4 } })
  const attacker = await startServer({})
  t.after(async () => { await within(Promise.allSettled([victim.close(), attacker.close()]), 10_000, 'closing the servers').catch(() => {}) })
  const before = victim.api.manager.stats()
  const rpc = await new Promise<HostileRpc>((resolve, reject) => {
    attacker.sbot.connect(victim.address, (err: unknown, r: unknown) => { if (err != null) reject(err); else resolve(r as HostileRpc) })
  })
  const huge = 'x'.repeat(4096)
  const absurd: unknown[] = [huge, -1, 1e308, null, { toString: huge }, [huge], Array.from({ length: 1000 }, (_, i) => ({ address: `net:${i}`, id: i })), { __proto__: { polluted: true } }]
  const pw = rpc.peerwarden
  const methods: Array<[string, (...args: unknown[]) => void]> = [
    ...Object.entries(pw.peers), ...Object.entries(pw.connections), ...Object.entries(pw.initialSync)
  ]
  let answered = 0
  const errors = new Set<string>()
  const ROUNDS = 300
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, method] of methods) {
      method(absurd[i % absurd.length], absurd[(i + 1) % absurd.length], (err: Error | null) => {
        answered++
        errors.add(err === null ? `${name}: no error` : err.message.replace(/method:[^ ]+/, 'method'))
      })
    }
  }
  // Sources opened and never read, then some read once.
  const sources = Array.from({ length: 1000 }, () => pw.connection.errors())
  const reads = await Promise.all(sources.slice(0, 10).map(async (read) => await new Promise<unknown>((resolve) => { read(null, (end) => { resolve(end) }) })))
  await until(() => answered === ROUNDS * methods.length, 30_000, () => `every call answered (${answered} of ${ROUNDS * methods.length})`)
  console.log(`${answered} calls answered: ${[...errors].join(' | ')}`)
  assert.deepEqual([...errors], ['method is not in list of allowed methods'])
  assert.ok(reads.every((end) => /not in list of allowed methods/.test(String((end as { message?: unknown } | null)?.message))), `the sources ended with ${String((reads[0] as { message?: unknown })?.message ?? reads[0])}`)
  const after = victim.api.manager.stats()
  assert.equal(after.highWater, before.highWater, 'setMax refused')
  assert.ok(after.known <= 1, `${after.known} peers known (the attacker at most)`)
  assert.equal(victim.api.manager.getPeer(attacker.id)?.priority ?? 'medium', 'medium', 'no priority changed')
  assert.equal(rpc.closed, false, 'the RPC itself stays (muxrpc answers the refusals)')
  // The victim still serves: a plain server can connect, and the manager counts it.
  const honest: Server = await startServer({ bare: true })
  t.after(async () => { await within(honest.close(), 10_000, 'closing the honest server').catch(() => {}) })
  await new Promise<void>((resolve, reject) => { honest.sbot.connect(victim.address, (err: unknown) => { if (err != null) reject(err); else resolve() }) })
  await until(() => victim.api.manager.getPeer(honest.id)?.connected === true, 10_000, 'the victim to count the honest peer')
})
