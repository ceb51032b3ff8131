import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { manageSwarm, type HyperswarmConnection, type HyperswarmLike } from '../../src/adapters/hyperswarm.js'
import { ManualClock } from '../../src/testing/index.js'
import { hasCode } from '../helpers/errors.js'

// Bug: manageSwarm took `dial` and `localPeer` and dropped them in silence, and an option of
// `new Hyperswarm()` given to it instead came out as an unknown option with no word of where it
// belongs. Every option it takes is honoured; every other is refused by name, saying where it goes.

const KEY = Buffer.alloc(32, 0x55)
const OWN = KEY.toString('hex')

/** A stand-in for Hyperswarm's public surface (no DHT): enough to manage and to emit connections. */
function fakeSwarm (): HyperswarmLike & EventEmitter {
  const swarm = new EventEmitter() as unknown as HyperswarmLike & EventEmitter
  Object.assign(swarm, {
    keyPair: { publicKey: KEY },
    connections: new Set(),
    peers: new Map(),
    maxPeers: 64,
    maxClientConnections: Infinity,
    maxParallel: 3,
    joinPeer () {},
    leavePeer () {},
    join () { return {} },
    async leave () {}
  })
  return swarm
}

function connection (key: Buffer): HyperswarmConnection & { destroyed: boolean } {
  const c = new EventEmitter() as EventEmitter & HyperswarmConnection & { destroyed: boolean }
  Object.assign(c, { remotePublicKey: key, isInitiator: false, destroyed: false })
  c.destroy = () => { if (!c.destroyed) { c.destroyed = true; queueMicrotask(() => c.emit('close')) } }
  return c
}

test('manageSwarm refuses dial by name: the manager dials through the swarm (it was dropped in silence)', () => {
  const swarm = fakeSwarm()
  assert.throws(() => manageSwarm(swarm, { dial: async () => { throw new Error('mine') } } as never),
    hasCode('ERR_INVALID_ARGUMENT', /^manageSwarm options: dial is not accepted: the manager dials through the swarm/))
})

test('an option given as undefined says nothing, so nothing is refused (options spread from elsewhere)', async () => {
  const m = manageSwarm(fakeSwarm(), { dial: undefined, firewall: undefined, lowWater: undefined } as never)
  await m.close()
})

test('manageSwarm takes localPeer only when it is the swarm\'s own key, in any case (another one was overwritten in silence)', async () => {
  const swarm = fakeSwarm()
  assert.throws(() => manageSwarm(swarm, { localPeer: 'me' }), hasCode('ERR_INVALID_ARGUMENT', new RegExp(`^localPeer must be the swarm's public key \\(${OWN}\\), got "me"`)))
  const m = manageSwarm(swarm, { localPeer: OWN.toUpperCase() })
  await m.close()
})

/** Every option name `new Hyperswarm(opts)` reads, from the installed hyperswarm's source. */
function hyperswarmOptions (): string[] {
  const source = readFileSync(createRequire(import.meta.url).resolve('hyperswarm'), 'utf8')
  const ctor = source.slice(source.indexOf('constructor(opts'), source.indexOf("this.dht.on('network-change'"))
  const destructured = /const \{([^}]*)\} = opts/.exec(ctor)![1]!.split(',').map((s) => s.trim().split(/\s|=/)[0]!).filter((s) => s !== '')
  const read = [...ctor.matchAll(/opts\.(\w+)/g)].map((m) => m[1]!)
  return [...new Set([...destructured, ...read])]
}

test('every option of new Hyperswarm() given to manageSwarm is refused by name, saying where it belongs', () => {
  const names = hyperswarmOptions()
  assert.ok(names.length >= 10 && names.includes('firewall') && names.includes('backoffs'), `read hyperswarm's options: ${names.join(', ')}`)
  for (const name of names) {
    if (name === 'maxPeers') continue // the manager's peer table under manageSwarm (checked against highWater)
    const expected = name === 'maxParallel'
      ? /unknown option "maxParallel"; did you mean "maxParallelDials"\?/
      : new RegExp(`^manageSwarm options: "${name}" is an option of new Hyperswarm\\(\\{ ${name} \\}\\), not of manageSwarm: \\S`)
    assert.throws(() => manageSwarm(fakeSwarm(), { [name]: 1 } as never), hasCode('ERR_INVALID_ARGUMENT', expected), name)
  }
})

test('allow and deny under manageSwarm list public keys: an IP range or a list that is no array is refused by name, a key in capitals matches', async () => {
  const swarm = fakeSwarm()
  assert.throws(() => manageSwarm(swarm, { deny: ['10.0.0.0/8'] }), hasCode('ERR_INVALID_ARGUMENT', /^deny\[0\] must be a public key in hex \(64 characters\) under manageSwarm, got "10\.0\.0\.0\/8"/))
  assert.throws(() => manageSwarm(swarm, { allow: ['alice'] }), hasCode('ERR_INVALID_ARGUMENT', /^allow\[0\] must be a public key in hex/))
  assert.throws(() => manageSwarm(swarm, { deny: 'ab'.repeat(32) as never }), hasCode('ERR_INVALID_ARGUMENT', /^deny must be an array of strings, got "abab/))
  const evil = Buffer.alloc(32, 0xee)
  const m = manageSwarm(swarm, { lowWater: 0, highWater: 4, deny: [evil.toString('hex').toUpperCase()] })
  try {
    assert.equal(swarm._firewall!(evil, null), true, 'the firewall refuses the denied key')
    const c = connection(evil)
    swarm.emit('connection', c, { publicKey: evil })
    assert.equal(c.destroyed, true, 'a connection of the denied key is closed')
    assert.equal(m.manager.stats().connections, 0)
  } finally {
    await m.close()
  }
})

test('a key denied at run time (manager.deny) is a Hyperswarm ban: the firewall refuses it, closes its connection, and Hyperswarm\'s ban is not lifted', async () => {
  // Regression: the adapter asked a copy of the deny option, so a key denied at run time was refused
  // as over the bound: refused once, Hyperswarm's ban lifted at the next microtask.
  const swarm = fakeSwarm()
  const evil = Buffer.alloc(32, 0xed)
  const id = evil.toString('hex')
  const m = manageSwarm(swarm, { lowWater: 0, highWater: 4 })
  try {
    const c = connection(evil)
    swarm.emit('connection', c, { publicKey: evil })
    assert.equal(m.manager.stats().connections, 1)
    m.manager.deny(id)
    assert.equal(c.destroyed, true, 'the live connection of the key closes')
    const info = { publicKey: evil, banned: false, ban (v: boolean) { this.banned = v } }
    swarm.peers.set(id, info as never)
    assert.equal(swarm._firewall!(evil, null), true, 'the firewall refuses the key')
    info.ban(true) // what Hyperswarm does once its firewall refused
    await Promise.resolve()
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(info.banned, true, 'a manager refusal, not one of the bound: Hyperswarm\'s ban stays')
    m.manager.undeny(id)
    assert.equal(swarm._firewall!(evil, null), false, 'undeny lets the key in again')
  } finally {
    await m.close()
  }
})

test('run-time access entries under manageSwarm are keys as the options are: an IP or a CIDR is refused naming the argument, a key in capitals matches (regression: deny, allow and a ban by IP were accepted and matched nothing)', async () => {
  const swarm = fakeSwarm()
  const peer = Buffer.alloc(32, 0xab)
  const id = peer.toString('hex')
  const m = manageSwarm(swarm, { lowWater: 0, highWater: 4 })
  try {
    for (const call of [() => m.manager.deny('10.0.0.0/8'), () => m.manager.allow('192.0.2.7'), () => m.manager.deny('/ip4/10.0.0.1'), () => m.manager.allow('not-a-key')]) {
      assert.throws(call, hasCode('ERR_INVALID_ARGUMENT', /^entry must be a public key in hex \(64 characters\) under manageSwarm/))
    }
    assert.throws(() => { m.manager.setPriority([{ peer: '10.0.0.7', priority: 'banned' }]) }, hasCode('ERR_INVALID_ARGUMENT', /^updates\[0\]\.peer must be a public key in hex/))
    assert.equal(m.manager.stats().denyEntries, 0, 'nothing listed')
    const c = connection(peer)
    swarm.emit('connection', c, { publicKey: peer })
    assert.equal(m.manager.allow(id.toUpperCase()), true)
    assert.equal(m.manager.isAllowed(id), true, 'a key in capitals is the key')
    assert.equal(m.manager.unallow(id.toUpperCase()), true)
    m.manager.deny(id.toUpperCase())
    assert.equal(c.destroyed, true, 'the live connection of the key closes')
    assert.equal(m.manager.undeny(id.toUpperCase()), true)
  } finally {
    await m.close()
  }
})

test('a topicQuota manageSwarm cannot use is refused when it is called, not at the first join', () => {
  const swarm = fakeSwarm()
  assert.throws(() => manageSwarm(swarm, { topicQuota: 3 as never }), hasCode('ERR_INVALID_ARGUMENT', /^topicQuota must be \{ min, max\? \}, got 3$/))
  assert.throws(() => manageSwarm(swarm, { topicQuota: { min: -1 } }), hasCode('ERR_INVALID_ARGUMENT', /^topicQuota\.min must be >= 0, got -1$/))
  assert.throws(() => manageSwarm(swarm, { topicQuota: { min: 3, max: 2 } }), hasCode('ERR_INVALID_ARGUMENT', /^topicQuota\.min must be <= topicQuota\.max \(got 3 > 2\)$/))
})

test('the manager options manageSwarm takes reach the manager: watermarks, maxPeers, clock, accepted, allow, topicQuota', async () => {
  const swarm = fakeSwarm()
  const clock = new ManualClock(5_000)
  const friend = Buffer.alloc(32, 0xf0)
  const accepted: string[] = []
  const m = manageSwarm(swarm, {
    lowWater: 0, highWater: 1, maxPeers: 50, clock,
    accepted: (c) => { accepted.push(c.peer) },
    allow: [friend.toString('hex').toUpperCase()],
    topicQuota: { min: 1, max: 2 }
  })
  try {
    const s = m.manager.stats()
    assert.deepEqual([s.lowWater, s.highWater, s.maxPeers], [0, 1, 50])
    swarm.join(Buffer.alloc(32, 0x0a))
    assert.deepEqual(m.manager.stats().topics.map((t) => [t.topic, t.min, t.max]), [['0a'.repeat(32), 1, 2]])
    const first = Buffer.alloc(32, 0x01)
    swarm.emit('connection', connection(first), { publicKey: first })
    assert.deepEqual(accepted, [first.toString('hex')])
    assert.equal(m.manager.explain(first.toString('hex'))[0]?.at, 5_000, 'decisions are timed on the given clock')
    // At highWater 1, the allow-listed key (given in capitals) is admitted all the same.
    const c = connection(friend)
    swarm.emit('connection', c, { publicKey: friend })
    assert.equal(c.destroyed, false)
    assert.equal(m.manager.getPeer(friend.toString('hex'))?.connected, true)
  } finally {
    await m.close()
  }
})

test('close and roomStats work destructured, as the guide\'s first sample uses them (`const { manager, close } = manageSwarm(swarm)`; regression: close lost its this and threw)', async () => {
  const swarm = fakeSwarm()
  const { manager, close, roomStats } = manageSwarm(swarm, { lowWater: 1, highWater: 2 })
  assert.equal(roomStats().releases, 0)
  await close()
  assert.equal(swarm.maxPeers, 64, 'the swarm restored')
  await assert.rejects(manager.connectNow(`hyperswarm:${'ab'.repeat(32)}`), hasCode('ERR_CLOSED'))
  await close() // idempotent
})

test('the manager dials at most the swarm\'s maxParallel at once, unless maxParallelDials is given (deliberate difference 2)', async () => {
  for (const [given, expected] of [[{}, 3], [{ maxParallelDials: 5 }, 5]] as const) {
    const swarm = fakeSwarm()
    const joined: string[] = []
    swarm.joinPeer = (key: Uint8Array) => { joined.push(Buffer.from(key).toString('hex')) } // the dial of a swarm without v4 internals
    const m = manageSwarm(swarm, { lowWater: 8, highWater: 16, clock: new ManualClock(), ...given })
    try {
      m.manager.addPeers(Array.from({ length: 8 }, (_, i) => {
        const id = Buffer.alloc(32, i + 1).toString('hex')
        return { id, address: `hyperswarm:${id}` }
      }))
      await new Promise((resolve) => setImmediate(resolve))
      assert.equal(joined.length, expected, `${JSON.stringify(given)}: dials in flight`)
    } finally {
      await m.close()
    }
  }
})
