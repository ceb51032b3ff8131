import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import createTestnet from '@hyperswarm/testnet'
import Hyperswarm from 'hyperswarm'
import { manageSwarm, type HyperswarmLike } from '../src/adapters/hyperswarm.js'
import { peerwarden } from '../src/adapters/libp2p.js'
import { createConnectionManager } from '../src/index.js'
import { createRegistry } from '../src/mesh/index.js'
import { createNode } from '../src/node/index.js'
import { missingBindings } from '../src/store/sqlite-errors.js'
import { hasCode } from './helpers/errors.js'

// The mistakes a newcomer makes first, against the public API, each answered by a PeerwardenError
// that names what was wrong (found by trying the README's examples with slips in them).

test('a networkKey that is neither a string nor bytes is refused by name (it threw a TypeError from Buffer.from)', async () => {
  await assert.rejects(createNode({ networkKey: 123 } as never), hasCode('ERR_INVALID_ARGUMENT', /^networkKey must be a string or a Uint8Array, got 123$/))
  await assert.rejects(createRegistry({ schema: { A: {} }, networkKey: { key: 'k' } } as never), hasCode('ERR_INVALID_ARGUMENT', /^networkKey must be a string or a Uint8Array/))
})

test('createNode takes maxHandshakeRate and checks it by name (a transport option the node did not pass on)', async () => {
  await assert.rejects(createNode({ maxHandshakeRate: 0 }), hasCode('ERR_INVALID_ARGUMENT', /maxHandshakeRate/))
  const node = await createNode({ maxHandshakeRate: 5 })
  await node.close()
})

test("join() after close() says the node is closed (it said 'the connection manager is closed')", async () => {
  const node = await createNode({ listen: ['tcp://127.0.0.1:0'] })
  await node.close()
  await assert.rejects(node.join('chat'), hasCode('ERR_CLOSED', /^the node is closed$/))
})

test('manageSwarm given something other than a swarm says it wants a Hyperswarm instance (the class itself, options, a manager)', () => {
  assert.throws(() => manageSwarm({ highWater: 8 } as never), hasCode('ERR_INVALID_ARGUMENT', /^swarm must be a Hyperswarm instance \(new Hyperswarm\(\)\), got object$/))
  assert.throws(() => manageSwarm(Hyperswarm as never), hasCode('ERR_INVALID_ARGUMENT', /got function \(the Hyperswarm class\? pass an instance: new Hyperswarm\(\)\)$/))
  const m = createConnectionManager({ dial: async () => { throw new Error('no dial') } })
  assert.throws(() => manageSwarm(m as never), hasCode('ERR_INVALID_ARGUMENT', /^swarm must be options, not a connection manager|^swarm must be a Hyperswarm/))
  assert.throws(() => manageSwarm(undefined as never), hasCode('ERR_INVALID_ARGUMENT', /^swarm must be a Hyperswarm instance/))
})

test('manageSwarm refuses a swarm already managed until the first one is closed, and a maxPeers below highWater (the manager\'s peer table, not Hyperswarm\'s maxPeers)', async (t) => {
  const testnet = await createTestnet(1, { host: '127.0.0.1' })
  t.after(async () => { await testnet.destroy() })
  const swarm = new Hyperswarm({ dht: testnet.createNode() } as never) as unknown as HyperswarmLike
  t.after(async () => { await swarm.destroy?.() })
  assert.throws(() => manageSwarm(swarm, { maxPeers: 10 }), hasCode('ERR_INVALID_ARGUMENT', /^maxPeers \(10\) must be >= highWater \(96\): under manageSwarm it is how many peers the manager remembers, not Hyperswarm's maxPeers; to bound the connections, set highWater$/))
  assert.throws(() => manageSwarm(swarm, { highWater: 20, maxPeers: 10 }), hasCode('ERR_INVALID_ARGUMENT', /^maxPeers \(10\) must be >= highWater \(20\)/))
  const first = manageSwarm(swarm, { highWater: 10, maxPeers: 10 })
  assert.throws(() => manageSwarm(swarm), hasCode('ERR_INVALID_ARGUMENT', /^swarm is already managed: close\(\) the first manageSwarm/))
  await first.close()
  const again = manageSwarm(swarm)
  await again.close()
})

test('libp2p peerwarden() checks the manager options when it is called, not when libp2p starts', () => {
  assert.throws(() => peerwarden({ lowWater: 10, highWater: 5 }), hasCode('ERR_INVALID_ARGUMENT', /lowWater must be <= highWater/))
  assert.throws(() => peerwarden({ gracePeriod: -1 }), hasCode('ERR_INVALID_ARGUMENT', /^gracePeriod must be >= 0 ms, got -1$/))
  assert.throws(() => peerwarden({ pubsub: '' }), hasCode('ERR_INVALID_ARGUMENT', /^pubsub must be the name of libp2p's pubsub service/))
  // Was taken and dropped without a word: the service dials through libp2p.
  assert.throws(() => peerwarden({ dial: async () => { throw new Error('never') } } as never), hasCode('ERR_INVALID_ARGUMENT', /dial is not accepted: the manager dials through libp2p/))
})

test('a connection manager passed where options are expected is refused by name (its methods came out as unknown options)', async () => {
  const m = createConnectionManager({ dial: async () => { throw new Error('no dial') } })
  try {
    await assert.rejects(createNode({ manager: m } as never), hasCode('ERR_INVALID_ARGUMENT', /^manager must be options, not a connection manager: createNode makes its own manager from the options \(lowWater, highWater, …\) and exposes it as \.manager$/))
    await assert.rejects(createNode(m as never), hasCode('ERR_INVALID_ARGUMENT', /^createNode options must be options, not a connection manager/))
    assert.throws(() => peerwarden(m as never), hasCode('ERR_INVALID_ARGUMENT', /^peerwarden options must be options, not a connection manager/))
  } finally {
    await m.close()
  }
})

test("dataDir: '' is refused with what to do instead (leave it out for memory only)", async () => {
  await assert.rejects(createNode({ dataDir: '' }), hasCode('ERR_INVALID_ARGUMENT', /^dataDir must be a directory path, got "" \(leave dataDir out to keep the key pair and the peers in memory\)$/))
})

test('node.protocol(name, notAFunction) is refused by name when called, not when the first peer connects', async (t) => {
  const node = await createNode()
  t.after(async () => { await node.close() })
  assert.throws(() => { node.protocol('echo/1', 'handler' as never) }, hasCode('ERR_INVALID_ARGUMENT', /^open \(the handler of protocol "echo\/1"\) must be a function, got "handler"$/))
  assert.throws(() => { node.protocol('echo/1', undefined as never) }, hasCode('ERR_INVALID_ARGUMENT', /must be a function, got undefined$/))
})

test('better-sqlite3 without its native binding is ERR_MISSING_DEPENDENCY saying how to fix it (it came out as a bare "Could not locate the bindings file")', () => {
  const absent = Object.assign(new Error('Could not locate the bindings file. Tried:\n → /app/node_modules/better-sqlite3/build/better_sqlite3.node'), { tries: [] })
  const err = missingBindings(absent)
  assert.ok(err !== undefined)
  assert.ok(hasCode('ERR_MISSING_DEPENDENCY', /^better-sqlite3 is installed but its native binding is missing \(its install script did not run\).*npm rebuild better-sqlite3/)(err))
  assert.equal(err.cause, absent)
  // A real dlopen failure: a file that is no shared object.
  const dir = mkdtempSync(join(tmpdir(), 'pw-bindings-'))
  const file = join(dir, 'better_sqlite3.node')
  writeFileSync(file, 'not a shared object')
  let dlopen: unknown
  try { process.dlopen({ exports: {} }, file) } catch (e) { dlopen = e } finally { rmSync(dir, { recursive: true, force: true }) }
  assert.ok(hasCode('ERR_MISSING_DEPENDENCY', /native binding was built for another Node or platform/)(missingBindings(dlopen)))
  assert.equal(missingBindings(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })), undefined, 'other errors are left as they are')
})

// Bug: these were taken in silence (a negative or non-number timing, rendezvous: 'yes', a misspelt
// rendezvous budget, an empty networkKey that made a private network of its own, manager.dial and
// manager.localPeer overwritten by the node) or refused in words that named no option ('relay: unknown
// option "0"', 'not a tcp address' without saying which list it was in).
test('createNode names the option and what it accepts for the first mistakes a newcomer makes', async () => {
  const refused = async (options: unknown, message: RegExp): Promise<void> => { await assert.rejects(createNode(options as never), hasCode('ERR_INVALID_ARGUMENT', message)) }
  await refused({ handshakeTimeout: -1 }, /^handshakeTimeout must be >= 1 ms, got -1$/)
  await refused({ keepAlive: '9s' }, /^keepAlive must be a finite number, got "9s"$/)
  await refused({ announceTtl: 0 }, /^announceTtl must be >= 1 ms, got 0$/)
  await refused({ refreshInterval: -5 }, /^refreshInterval must be >= 1 ms, got -5$/)
  await refused({ pexPerMinute: 'a' }, /^pexPerMinute must be an integer, got "a"$/)
  await refused({ rendezvous: 'yes' }, /^rendezvous must be true or false, got "yes"$/)
  await refused({ rendezvousLimits: { maxByte: 1 } }, /^rendezvousLimits: unknown option "maxByte"; did you mean "maxBytes"\?/)
  await refused({ rendezvousLimits: { perTopic: 0 } }, /^rendezvousLimits\.perTopic must be >= 1, got 0$/)
  await refused({ relay: 'x' }, /^relay must be true, false or an object of its limits, got "x"$/)
  await refused({ manager: 'x' }, /^manager must be an object of manager options \(\{ lowWater, highWater, … \}\), got "x"$/)
  await refused({ manager: { dial: async () => { throw new Error('mine') } } }, /^manager\.dial is not accepted: the node dials its peers itself/)
  await refused({ manager: { localPeer: 'me' } }, /^manager\.localPeer must be the node's id \([0-9a-f]{64}\), got "me"/)
  await refused({ networkKey: '' }, /^networkKey must be a string or a Uint8Array, not empty \(leave it out for the network of every node without a key\), got ""$/)
  await refused({ listen: 'tcp://127.0.0.1:0' }, /^listen must be an array of tcp:\/\/ addresses, got a string: write \["tcp:\/\/127\.0\.0\.1:0"\]$/)
  await refused({ bootstrap: ['127.0.0.1:4000'] }, /^bootstrap\[0\]: not a tcp address: "127\.0\.0\.1:4000" \(expected tcp:\/\/host:port or tcp:\/\/host:port#<peerId>\)$/)
  await refused({ announce: ['tcp://1.2.3.4:5', 'x'] }, /^announce\[1\]: not a tcp address: "x"/)
})

test('createNode takes manager.localPeer when it is its own id, and dialBack: true', async (t) => {
  const seed = 'first-mistakes-local-peer'
  const probe = await createNode({ seed })
  const id = probe.id
  await probe.close()
  const node = await createNode({ seed, manager: { localPeer: id }, dialBack: true })
  t.after(async () => { await node.close() })
  assert.equal(node.id, id)
})
