import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import { memoryStore } from '../../src/index.js'
import { Manager, type RpcLike } from '../../src/adapters/ssb.js'
import { ManualClock } from '../../src/testing/index.js'

// A ban kept in the store, through the sbot-connection-manager API: it holds from the first RPC,
// before connections.start() (the plugin and Manager() are off by default but count RPCs at once).

const idOf = (i: number): string => `@${Buffer.alloc(32, i).toString('base64')}.ed25519`
const addressOf = (i: number): string => `net:127.0.0.1:${9000 + i}~shs:${Buffer.alloc(32, i).toString('base64')}`

class Rpc extends EventEmitter implements RpcLike {
  closed = false
  constructor (readonly id: string, readonly stream: { address: string }) { super() }
  close (_err?: unknown, cb?: () => void): void {
    if (!this.closed) { this.closed = true; this.emit('closed') }
    cb?.()
  }
}

test('SSB: a ban kept in the store refuses the banned feed\'s inbound RPC before connections.start(), and outlives the restart of the manager', async () => {
  const store = memoryStore()
  const connectToPeer = (_address: string, cb: (err: Error | null) => void): void => { setImmediate(() => { cb(new Error('no network here')) }) }
  const first = Manager({ connectToPeer, store, clock: new ManualClock(), id: idOf(0) })
  first.peers.add([{ address: addressOf(1) }])
  first.peers.setPriority([{ address: addressOf(1), priority: 'BANNED' }])
  await first.close()

  const second = Manager({ connectToPeer, store, clock: new ManualClock(), id: idOf(0) })
  await new Promise((resolve) => { setImmediate(resolve) })
  const rpc = new Rpc(idOf(1), { address: `net:127.0.0.1:50001~shs:${Buffer.alloc(32, 1).toString('base64')}` })
  second.connections.remotePeerConnected(idOf(1), rpc)
  assert.equal(rpc.closed, true, 'the banned feed\'s RPC is closed')
  assert.equal(second.manager.stats().connections, 0)
  assert.equal(second.manager.getPeer(idOf(1))?.priority, 'banned')
  const other = new Rpc(idOf(2), { address: `net:127.0.0.1:50002~shs:${Buffer.alloc(32, 2).toString('base64')}` })
  second.connections.remotePeerConnected(idOf(2), other)
  assert.equal(other.closed, false, 'another feed is counted as usual')
  await second.close()
})
