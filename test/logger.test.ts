import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkLogger, createLogger, levelFromEnv, silentLogger, childOf } from '../src/logger.js'

test('createLogger writes lines at or above its level, with fields and child bindings', () => {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', write: (line) => lines.push(line), format: 'json', now: () => 1000 })
  logger.debug('hidden')
  logger.info({ peer: 'ab' }, 'connected')
  childOf(logger, { component: 'node' }).warn('slow')
  assert.equal(lines.length, 2)
  assert.deepEqual(JSON.parse(lines[0]!), { level: 30, time: 1000, peer: 'ab', msg: 'connected' })
  assert.deepEqual(JSON.parse(lines[1]!), { level: 40, time: 1000, component: 'node', msg: 'slow' })
})

test('the pretty format carries time, level, message and fields', () => {
  const lines: string[] = []
  const logger = createLogger({ level: 'debug', write: (line) => lines.push(line), now: () => 0 })
  logger.debug({ reason: 'trimmed', bytes: new Uint8Array([1, 255]) }, 'closed')
  assert.equal(lines[0], '1970-01-01T00:00:00.000Z DEBUG closed reason=trimmed bytes=01ff')
})

test('levelFromEnv reads DEBUG=peerwarden:* and PEERWARDEN_LOG_LEVEL', () => {
  assert.equal(levelFromEnv({ DEBUG: 'peerwarden:*' }), 'debug')
  assert.equal(levelFromEnv({ DEBUG: 'libp2p:*,peerwarden:node' }), 'debug')
  assert.equal(levelFromEnv({ DEBUG: 'libp2p:*' }), undefined)
  assert.equal(levelFromEnv({ PEERWARDEN_LOG_LEVEL: 'warn' }), 'warn')
  assert.equal(levelFromEnv({ PEERWARDEN_LOG_LEVEL: 'loud' }), undefined)
  assert.doesNotThrow(() => { silentLogger.error({ a: 1 }, 'x') })
})

test('the pretty format writes the time as asked; checkLogger names the option when a level method is missing', () => {
  const lines: string[] = []
  createLogger({ write: (line) => lines.push(line), now: () => 0, time: (ms) => `t${ms}` }).warn('late')
  assert.equal(lines[0], 't0 WARN  late')
  assert.equal(checkLogger('logger', silentLogger), silentLogger)
  assert.throws(() => checkLogger('logger', { info: () => {} }), (err: Error & { code?: string }) => err.code === 'ERR_INVALID_ARGUMENT' && /^logger must be a logger/.test(err.message))
  assert.throws(() => checkLogger('mesh.logger', null), /mesh\.logger/)
})
