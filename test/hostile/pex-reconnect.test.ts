import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { discoveryKey } from '../../src/node/index.js'
import { attack } from '../helpers/attacker.js'
import { testNode } from '../helpers/nodes.js'

// Peer exchange is budgeted per connection (pexPerMinute, 120): each message taken costs the node
// the normalisation of up to 256 addresses and the hint budgets' bookkeeping. A connection is free
// to make anew (10 a second per IP, a fresh identity each): reconnecting reset the budget.

const TOPIC = 'pex-reconnect'
const KEY = discoveryKey(TOPIC)

test('fresh connections from one IP teach at most twice pexPerMinute messages a minute between them, not pexPerMinute each', { timeout: 60_000 }, async (t) => {
  const victim = await testNode(t, { manager: { highWater: 64 } })
  await victim.join(TOPIC)
  const CONNECTIONS = 8
  const MESSAGES = 150
  let host = 0
  for (let n = 0; n < CONNECTIONS; n++) {
    const a = await attack(victim.addresses[0]!, { localAddress: '127.0.0.2' })
    t.after(() => { a.close() })
    a.channel(CONTROL_PROTOCOL)
    for (let m = 0; m < MESSAGES; m++) {
      const peers = Array.from({ length: 32 }, () => ({
        id: randomBytes(32).toString('hex'),
        addresses: Array.from({ length: 8 }, (_, k) => `tcp://10.${(host >> 8) & 255}.${host++ & 255}.1:${4000 + k}`)
      }))
      a.control({ t: 'pex', topic: KEY, peers })
    }
    assert.equal(await a.ping(KEY, 30_000), true, 'the victim answers after the flood')
    a.close()
  }
  const s = victim.stats()
  const taken = CONNECTIONS * MESSAGES - s.pexDropped
  console.log(`${CONNECTIONS} connections from 127.0.0.2 x ${MESSAGES} pex: ${taken} taken, ${s.pexDropped} dropped, ${s.hintsDropped} hinted addresses dropped, ${victim.manager.stats().known} peers known`)
  assert.ok(taken <= 2 * 120, `${taken} pex messages taken from one source in a minute`)
  // Another source still teaches its pexPerMinute.
  const b = await attack(victim.addresses[0]!, { localAddress: '127.0.0.3' })
  t.after(() => { b.close() })
  b.channel(CONTROL_PROTOCOL)
  b.control({ t: 'pex', topic: KEY, peers: [{ id: randomBytes(32).toString('hex'), addresses: ['tcp://10.200.0.1:4000'] }] })
  assert.equal(await b.ping(KEY), true)
  assert.equal(victim.stats().pexDropped, s.pexDropped, 'another source\'s message is taken')
})
