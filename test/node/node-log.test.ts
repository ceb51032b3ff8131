import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'
import { createLogger, type Logger } from '../../src/logger.js'
import { createNode } from '../../src/node/index.js'
import { hasCode } from '../helpers/errors.js'
import { testNode } from '../helpers/nodes.js'
import { until } from '../helpers/wait.js'

// The node's `logger` option: what it writes, at which level, on real sockets on 127.0.0.1.

interface Line { level: number; msg: string; [field: string]: unknown }

function capture (level: 'debug' | 'info' = 'debug'): { logger: Logger; lines: Line[]; find: (msg: string, fields?: Record<string, unknown>) => Line | undefined } {
  const lines: Line[] = []
  const logger = createLogger({ level, format: 'json', write: (l) => lines.push(JSON.parse(l) as Line) })
  const find = (msg: string, fields: Record<string, unknown> = {}): Line | undefined => lines.find((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v))
  return { logger, lines, find }
}

function port (address: string): { host: string; port: number } {
  const m = /^tcp:\/\/([^:]+):(\d+)/.exec(address)!
  return { host: m[1], port: Number(m[2]) }
}

test('a node logs its connections kept and lost (info) with the peer, direction and reason', { timeout: 20_000 }, async (t) => {
  const a = capture()
  const b = capture()
  const boot = await testNode(t, { logger: a.logger })
  const other = await createNode({ bootstrap: [`${boot.addresses[0]}#${boot.id}`], logger: b.logger })
  await until(() => a.find('connected', { peer: other.id }) !== undefined, 10_000, 'the connection line')
  const inbound = a.find('connected', { peer: other.id })!
  assert.equal(inbound.level, 30, 'info')
  assert.equal(inbound.direction, 'inbound')
  await until(() => b.find('connected', { peer: boot.id }) !== undefined, 10_000, 'the dialler\'s line')
  assert.equal(b.find('connected', { peer: boot.id })!.direction, 'outbound')
  assert.ok(a.find('listening', { id: boot.id }), 'listening, at debug')
  await other.close()
  await until(() => a.find('disconnected', { peer: other.id }) !== undefined, 10_000, 'the disconnection line')
  assert.equal(a.find('disconnected', { peer: other.id })!.reason, 'stopped', 'the remote\'s reason')
})

test('failures carry their code: a wrong bootstrap id is a warning, garbage on the port a handshake failure, a denied address a refusal at debug', { timeout: 20_000 }, async (t) => {
  const target = capture()
  const node = await testNode(t, { logger: target.logger, handshakeTimeout: 2000 })
  const dialler = capture('info')
  await testNode(t, { bootstrap: [`${node.addresses[0]}#${'ab'.repeat(32)}`], logger: dialler.logger })
  await until(() => dialler.find('dial failed') !== undefined, 10_000, 'the dial failure')
  const failed = dialler.find('dial failed')!
  assert.equal(failed.code, 'ERR_PEER_MISMATCH')
  assert.equal(failed.level, 40, 'warn: the configuration is at fault')
  assert.ok(String(failed.address).startsWith(node.addresses[0]))
  assert.equal(dialler.lines.some((l) => l.level < 30), false, 'nothing below the level asked for')

  const { host, port: p } = port(node.addresses[0])
  const socket = net.connect(p, host)
  socket.on('error', () => {})
  socket.end(Buffer.alloc(64, 0xff))
  await until(() => target.find('handshake failed') !== undefined, 10_000, 'the handshake failure')
  const hs = target.find('handshake failed')!
  assert.equal(hs.level, 30)
  assert.equal(typeof hs.code, 'string')
  assert.match(String(hs.address), /^tcp:\/\/127\.0\.0\.1:\d+$/)

  const denying = capture()
  const closed = await testNode(t, { logger: denying.logger, manager: { deny: ['127.0.0.1/32'] } })
  const { host: h2, port: p2 } = port(closed.addresses[0])
  const s2 = net.connect(p2, h2)
  s2.on('error', () => {})
  await until(() => denying.find('refused early') !== undefined, 10_000, 'the early refusal')
  s2.destroy()
  assert.deepEqual([denying.find('refused early')!.level, denying.find('refused early')!.rule], [20, 'denied'])
})

test('the logger option is checked, and a logger that throws never reaches the node', { timeout: 20_000 }, async (t) => {
  await assert.rejects(createNode({ logger: { info: () => {} } as never }), hasCode('ERR_INVALID_ARGUMENT', /logger/))
  let calls = 0
  const thrower: Logger = { debug: () => { calls++; throw new Error('boom') }, info: () => { calls++; throw new Error('boom') }, warn: () => { calls++; throw new Error('boom') }, error: () => { calls++; throw new Error('boom') } }
  const a = await testNode(t, { logger: thrower })
  const b = await testNode(t, { bootstrap: [`${a.addresses[0]}#${a.id}`] })
  await until(() => a.stats().connections === 1 && b.stats().connections === 1, 10_000, 'the connection despite the logger')
  assert.ok(calls > 0)
})
