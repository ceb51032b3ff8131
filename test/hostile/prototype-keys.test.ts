import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as v from 'valibot'
import { defineSchema, type MeshSchema } from '../../src/mesh/index.js'
import { instancesOf, meshOn } from '../helpers/mesh.js'

// Names a peer sends that are also keys of Object.prototype ('constructor', 'toString', '__proto__',
// 'hasOwnProperty'): as a command called, a role registered, argument keys. Nothing of ours may look
// them up through a prototype. Before: the responder found a command's handler with
// `handlers[name]`, so a command named like a prototype key that the `handlers` option left to the
// schema ran Object.prototype's function instead ('toString' answered "[object Undefined]"), and
// one without any handler ('constructor') echoed the caller's arguments (Object(args)) instead of
// refusing ERR_UNKNOWN_COMMAND. Real sockets on 127.0.0.1.

const T = { timeout: 30_000 }

test('commands named like Object.prototype keys run the schema\'s method, or are refused ERR_UNKNOWN_COMMAND without one, when the handlers option does not name them', T, async (t) => {
  const schema = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: {
      _allow: ['Api'],
      _commands: {
        _balanced: {
          toString: () => 'the schema\'s toString',
          valueOf: { method: () => 'the schema\'s valueOf', params: v.object({ x: v.number() }) },
          constructor: {},
          hasOwnProperty: {},
          work: () => 'schema work'
        }
      }
    }
  } as MeshSchema)
  const start = await meshOn(t, schema)
  await start({ role: 'Worker', variant: 'w1', handlers: { work: () => 'handler work' } })
  const api = await start({ role: 'Api' })
  await instancesOf(api, 'Worker', 1)
  const call = async (name: string, args?: unknown): Promise<unknown> => await (Reflect.get(api.call.Worker, name) as (a?: unknown) => Promise<unknown>)(args)
  const outcome = async (p: Promise<unknown>): Promise<unknown> => {
    try { return await p } catch (err) { return `${(err as { code?: string }).code ?? '?'}/${((err as { cause?: { code?: string } }).cause?.code) ?? ''}` }
  }
  const got = {
    toString: await outcome(call('toString')),
    valueOf: await outcome(call('valueOf', { x: 1 })),
    constructor: await outcome(call('constructor', { echo: 'me' })),
    hasOwnProperty: await outcome(call('hasOwnProperty', 'x')),
    work: await outcome(call('work'))
  }
  console.log(JSON.stringify(got))
  assert.deepEqual(got, {
    toString: 'the schema\'s toString',
    valueOf: 'the schema\'s valueOf',
    constructor: 'ERR_REMOTE/ERR_UNKNOWN_COMMAND',
    hasOwnProperty: 'ERR_REMOTE/ERR_UNKNOWN_COMMAND',
    work: 'handler work'
  })
})

test('arguments carrying __proto__, constructor and prototype keys reach a handler as plain data: nothing of the receiver\'s objects is polluted, and a params schema keeps its own keys only', T, async (t) => {
  const schema = defineSchema({
    Api: { _connect: ['Worker'] },
    Worker: {
      _allow: ['Api'],
      _commands: {
        _balanced: {
          checked: { params: v.object({ name: v.string() }) },
          raw: {}
        }
      }
    }
  })
  const start = await meshOn(t, schema)
  const seen: unknown[] = []
  await start({
    role: 'Worker',
    variant: 'w1',
    handlers: {
      checked: (args: unknown) => { seen.push(args); return Object.keys(args as object) },
      raw: (args: unknown) => { seen.push(args); return { proto: Object.getPrototypeOf(args) === Object.prototype, keys: Object.keys(args as object) } }
    }
  })
  const api = await start({ role: 'Api' })
  await instancesOf(api, 'Worker', 1)
  // JSON text with a __proto__ key: what a hostile caller writes (an object literal would set the prototype).
  const hostile = JSON.parse('{"name":"x","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') as { name: string }
  const checked = await api.call.Worker.checked(hostile)
  const raw = await api.call.Worker.raw(hostile)
  assert.deepEqual(checked, ['name'], 'the params schema keeps its keys only')
  assert.deepEqual(raw, { proto: true, keys: ['name', '__proto__', 'constructor'] }, 'the raw arguments are data: an own __proto__ key, the prototype untouched')
  assert.equal(({} as { polluted?: unknown }).polluted, undefined, 'Object.prototype untouched')
  assert.equal(Object.getPrototypeOf(seen[0]), Object.prototype)
})
