import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import { check, issue, type Certificate } from '../../src/mesh/certificate.js'
import {
  createMeshNode, createRegistry, defineSchema, PeerwardenError, Schema,
  type BroadcastEntry, type MeshNode, type MeshRegistry, type MeshSchema
} from '../../src/mesh/index.js'
import { hasCode } from '../helpers/errors.js'
import { SOCKETMESH_SAMPLE } from '../helpers/socketmesh-sample.js'
import { until } from '../helpers/wait.js'

// Schema validation, the caller/callee tables, the typed form, and certificates.

/** Asserts that `fn` throws ERR_INVALID_ARGUMENT whose message contains every one of `parts`. */
function rejectsSchema (spec: unknown, ...parts: string[]): void {
  assert.throws(() => new Schema(spec as MeshSchema), (err: unknown) => {
    assert.ok(err instanceof PeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
    assert.equal(err.code, 'ERR_INVALID_ARGUMENT', err.message)
    for (const p of parts) assert.ok(err.message.includes(p), `the message ${JSON.stringify(err.message)} should name ${JSON.stringify(p)}`)
    return true
  })
}

const noop = (): null => null

// ── validation ──────────────────────────────────────────────────────────────

test('a command that is both balanced and broadcast is refused, naming the role and the command', () => {
  rejectsSchema({
    Worker: { _commands: { _balanced: { resize: noop, status: noop }, _broadcast: { resize: noop } } }
  }, 'Worker', '"resize"', 'both balanced and broadcast')
})

test('an unknown role in _connect is refused, naming the role that lists it, the index and the unknown name', () => {
  rejectsSchema({
    Caller: { _connect: ['Worker', 'Ghost'] },
    Worker: {}
  }, 'schema.Caller._connect[1]', '"Ghost"')
})

test('an unknown role in _allow is refused, naming the role that lists it, the index and the unknown name', () => {
  rejectsSchema({
    Caller: { _connect: ['Worker'] },
    Worker: { _allow: ['Caller', 'Phantom'] }
  }, 'schema.Worker._allow[1]', '"Phantom"')
})

test('a role reference that matches several roles case-insensitively is refused as ambiguous', () => {
  rejectsSchema({
    Caller: { _connect: ['worker'] },
    WORKER: {},
    Worker: {}
  }, 'schema.Caller._connect[0]', '"worker"', 'several')
})

test('_allow that is neither \'anyNode\' nor an array is refused, naming the role', () => {
  rejectsSchema({ Worker: { _allow: 'everyone' } }, 'schema.Worker._allow')
})

test('a command entry that is neither a function nor an object is refused, naming its path', () => {
  for (const bad of [42, 'handler', true, null, ['x']]) {
    rejectsSchema({ Worker: { _commands: { _balanced: { resize: bad } } } }, 'schema.Worker._commands._balanced.resize')
  }
  rejectsSchema({ Worker: { _commands: { _broadcast: { status: 7 } } } }, 'schema.Worker._commands._broadcast.status')
})

test('a command object with an unknown field is refused, naming the field and the command', () => {
  rejectsSchema({
    Worker: { _commands: { _broadcast: { status: { responds: true, method: noop, retries: 3 } } } }
  }, 'schema.Worker._commands._broadcast.status', '"retries"')
})

test('queued on a balanced command is refused, naming the command', () => {
  rejectsSchema({
    Worker: { _commands: { _balanced: { resize: { queued: true, method: noop } } } }
  }, 'schema.Worker._commands._balanced.resize', 'queued')
})

test('a timeout that is not a positive finite number of ms is refused, naming the command', () => {
  for (const timeout of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, '100', null]) {
    rejectsSchema({
      Worker: { _commands: { _balanced: { resize: { method: noop, timeout } } } }
    }, 'schema.Worker._commands._balanced.resize', 'timeout')
  }
  // The control: a positive timeout is accepted and kept.
  const s = new Schema({ Worker: { _commands: { _balanced: { resize: { method: noop, timeout: 250 } } } } })
  assert.equal(s.role('Worker')?.commands.get('resize')?.timeout, 250)
})

test('a method that is not a function and responds/queued that are not booleans are refused, naming the command', () => {
  rejectsSchema({ Worker: { _commands: { _balanced: { resize: { method: 'resize' } } } } }, 'schema.Worker._commands._balanced.resize.method')
  rejectsSchema({ Worker: { _commands: { _broadcast: { status: { method: noop, responds: 'yes' } } } } }, 'schema.Worker._commands._broadcast.status.responds')
  rejectsSchema({ Worker: { _commands: { _broadcast: { status: { method: noop, queued: 1 } } } } }, 'schema.Worker._commands._broadcast.status.queued')
})

test('_commands with a group other than _balanced and _broadcast is refused, naming the role and the group', () => {
  rejectsSchema({
    Worker: { _commands: { _balanced: { resize: noop }, _queued: { later: noop } } }
  }, 'schema.Worker._commands._queued', '_balanced', '_broadcast')
})

test('a schema that is not an object, or has no role, is refused', () => {
  rejectsSchema(null, 'schema')
  rejectsSchema([], 'schema')
  rejectsSchema({}, 'no role')
  rejectsSchema({ Worker: 5 }, 'schema.Worker')
})

// ── socketmesh's sample ───────────────────────────────────────────────────────

test('socketmesh\'s sample schema, copied verbatim, validates with its commands classified as socketmesh describes', () => {
  const sample = SOCKETMESH_SAMPLE
  const s = new Schema(sample)
  assert.deepEqual([...s.roles.keys()], ['NodeA', 'NodeB'])
  const a = s.role('NodeA')!
  const b = s.role('NodeB')!
  // 'nodeB' resolves to the role NodeB; 'anyNode' means no restriction.
  assert.deepEqual(a.connect, ['NodeB'])
  assert.equal(a.allow, undefined)
  assert.deepEqual(b.connect, ['NodeA'])
  assert.deepEqual([...(b.allow ?? [])], ['NodeB'])
  for (const role of [a, b]) {
    const balanced = role.commands.get('sampleRespondingMethod')!
    assert.equal(balanced.kind, 'balanced')
    assert.equal(balanced.responds, true, 'balanced methods expect a response')
    assert.equal(balanced.queued, false)
    assert.equal(typeof balanced.handler, 'function')
    const responding = role.commands.get('sampleRespondingBroadcastMethod')!
    assert.equal(responding.kind, 'broadcast')
    assert.equal(responding.responds, true)
    assert.equal(responding.queued, false)
    const queued = role.commands.get('sampleQueuedBroadcastMethod')!
    assert.equal(queued.kind, 'broadcast')
    assert.equal(queued.responds, false)
    assert.equal(queued.queued, true)
    assert.deepEqual(balanced.handler!({ test: 'data' }, undefined as never), { command: 'data' })
  }
  // The call table: only NodeB may call NodeA (NodeB admits only NodeB).
  assert.equal(s.canCall('NodeB', 'NodeA'), true)
  assert.equal(s.canCall('NodeA', 'NodeB'), false)
  assert.equal(s.canCall('NodeA', 'NodeA'), false)
  assert.equal(s.canCall('NodeB', 'NodeB'), false)
  assert.deepEqual(s.peersOf('NodeA'), ['NodeB'])
  assert.deepEqual(s.peersOf('NodeB'), ['NodeA'])
})

// ── canCall / peersOf ───────────────────────────────────────────────────────

test('canCall holds exactly when the target is in the caller\'s _connect and the target\'s _allow admits the caller', () => {
  const s = new Schema({
    Caller: { _connect: ['worker', 'Admin', 'Open'] },
    Worker: { _allow: ['caller', 'Admin'], _connect: ['Store'] },
    Admin: { _connect: ['Worker', 'Store'] },
    Store: { _allow: ['Worker'] },
    Open: { _allow: 'anyNode' },
    Loner: {}
  })
  const roles = ['Caller', 'Worker', 'Admin', 'Store', 'Open', 'Loner']
  // Rows call columns.
  const expected: Record<string, string[]> = {
    Caller: ['Worker', 'Admin', 'Open'], // Admin and Open admit anyone (no _allow / 'anyNode')
    Worker: ['Store'],
    Admin: ['Worker'], // Store admits only Worker
    Store: [],
    Open: [],
    Loner: []
  }
  for (const from of roles) {
    for (const to of roles) {
      assert.equal(s.canCall(from, to), expected[from].includes(to), `canCall(${from}, ${to})`)
    }
  }
  assert.equal(s.canCall('Nobody', 'Worker'), false)
  assert.equal(s.canCall('Caller', 'Nobody'), false)

  const peers: Record<string, string[]> = {
    Caller: ['Worker', 'Admin', 'Open'],
    Worker: ['Caller', 'Admin', 'Store'],
    Admin: ['Caller', 'Worker'],
    Store: ['Worker'],
    Open: ['Caller'],
    Loner: []
  }
  for (const role of roles) assert.deepEqual(s.peersOf(role).sort(), peers[role].sort(), `peersOf(${role})`)
})

// ── the typed form ──────────────────────────────────────────────────────────

const T = { timeout: 15_000 }

const touched: string[] = []
const notes: string[] = []
const typed = defineSchema({
  Caller: { _connect: ['Worker'] },
  Worker: {
    _allow: ['Caller'],
    _commands: {
      _balanced: {
        resize: ({ w }: { w: number }) => ({ width: w * 2 }),
        touch: { responds: false, method: (_args: { id: string }) => { touched.push(_args.id) } }
      },
      _broadcast: {
        status: { responds: true, method: async ({ n }: { n: number }) => ({ load: n, ok: true as const }) },
        note: { queued: true, method: (args: { text: string }) => { notes.push(args.text) } }
      }
    }
  }
})
test('defineSchema returns the schema unchanged and it validates', () => {
  const s = new Schema(typed)
  assert.deepEqual([...s.roles.keys()], ['Caller', 'Worker'])
  assert.equal(s.canCall('Caller', 'Worker'), true)
  assert.equal(s.role('Worker')?.commands.get('note')?.queued, true)
  const same = { A: {} }
  assert.equal(defineSchema(same), same)
})

test('the typed form infers each command\'s arguments and result from the schema, and the calls work', T, async (t: TestContext) => {
  const registry: MeshRegistry = await createRegistry({ schema: typed, open: true })
  t.after(async () => { await registry.close() })
  const worker = await createMeshNode({ schema: typed, role: 'Worker', variant: 'w1', registry: registry.addresses[0] })
  t.after(async () => { await worker.close() })
  const mesh: MeshNode<typeof typed> = await createMeshNode({ schema: typed, role: 'Caller', registry: registry.addresses[0] })
  t.after(async () => { await mesh.close() })
  await until(() => mesh.instances('Worker').length === 1, 5000, 'the caller to reach the worker')

  const resized: { width: number } = await mesh.call.Worker.resize({ w: 1 })
  assert.deepEqual(resized, { width: 2 })
  const width: number = resized.width
  assert.equal(width, 2)
  // @ts-expect-error the result is typed, not any: width is a number
  const notAString: string = resized.width
  assert.equal(typeof notAString, 'number')

  const nothing: void = await mesh.call.Worker.touch({ id: 'a1' })
  assert.equal(nothing, undefined)
  await until(() => touched.includes('a1'), 2000, 'the fire-and-forget call to arrive')

  const entries: Array<BroadcastEntry<{ load: number; ok: true }>> = await mesh.call.Worker.status({ n: 3 })
  assert.equal(entries.length, 1)
  const [entry] = entries
  assert.equal(entry.variant, 'w1')
  assert.ok(entry.ok, entry.ok ? '' : entry.error.message)
  const load: number = entry.value.load
  assert.equal(load, 3)

  const queued: void = await mesh.call.Worker.note({ text: 'hello' })
  assert.equal(queued, undefined)
  await until(() => notes.includes('hello'), 2000, 'the queued note to be delivered')

  // A wrong argument type is a compile error (the call still goes out: the handler doubles a string,
  // and the NaN crosses the wire as JSON null).
  // @ts-expect-error w must be a number
  const wrong = await mesh.call.Worker.resize({ w: 'one' })
  assert.deepEqual(wrong, { width: null })

  // An unknown command is a compile error, and at run time ERR_UNKNOWN_COMMAND.
  // @ts-expect-error shrink is not a command of Worker
  await assert.rejects(mesh.call.Worker.shrink({ w: 1 }), hasCode('ERR_UNKNOWN_COMMAND'))

  // An unknown role is a compile error too.
  // @ts-expect-error Nobody is not a role
  await assert.rejects(async () => await mesh.call.Nobody.resize({ w: 1 }), hasCode('ERR_UNKNOWN_COMMAND'))

  await assert.rejects(createMeshNode({
    schema: typed,
    // @ts-expect-error the role must be one of the schema's
    role: 'Manager',
    registry: registry.addresses[0]
  }), hasCode('ERR_INVALID_ARGUMENT'))
})

// ── certificates ────────────────────────────────────────────────────────────

/** An ed25519 key pair in the libsodium layout the registry uses: secretKey = seed ‖ publicKey. */
function keyPair (): { secretKey: Buffer; id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32)
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)
  return { secretKey: Buffer.concat([seed, pub]), id: pub.toString('hex') }
}

function certError (fragment: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
    assert.equal(err.code, 'ERR_CERTIFICATE', err.message)
    assert.ok(err.message.includes(fragment), `the message ${JSON.stringify(err.message)} should say ${JSON.stringify(fragment)}`)
    return true
  }
}

function fixture (): { registry: { secretKey: Buffer; id: string }; peer: string; now: number; cert: Certificate } {
  const registry = keyPair()
  const peer = keyPair().id
  const now = Date.now()
  const cert = issue(registry.secretKey, { role: 'Worker', variant: 'w1', peer, registry: registry.id, expires: now + 60_000 })
  return { registry, peer, now, cert }
}

test('a certificate the registry issued checks out for its holder and keeps every field', () => {
  const { registry, peer, now, cert } = fixture()
  assert.match(cert.sig, /^[0-9a-f]{128}$/)
  const checked = check(cert, { registry: registry.id, peer, now })
  assert.deepEqual(checked, { role: 'Worker', variant: 'w1', peer, registry: registry.id, expires: now + 60_000, sig: cert.sig })
  // It survives the JSON round trip of the wire.
  assert.deepEqual(check(JSON.parse(JSON.stringify(cert)), { registry: registry.id, peer, now: now + 59_999 }), cert)
})

test('a certificate with any signed field changed fails the signature check', () => {
  const { registry, peer, now, cert } = fixture()
  const tampered: Array<[string, Certificate]> = [
    ['role', { ...cert, role: 'Admin' }],
    ['variant', { ...cert, variant: 'w2' }],
    ['expires', { ...cert, expires: cert.expires + 1 }],
    ['sig', { ...cert, sig: (cert.sig[0] === '0' ? '1' : '0') + cert.sig.slice(1) }],
    ['sig (garbage)', { ...cert, sig: 'zz' }]
  ]
  for (const [what, c] of tampered) {
    assert.throws(() => check(c, { registry: registry.id, peer, now }), certError('signature'), `tampered ${what}`)
  }
})

test('a certificate made out to another peer is refused for this one, even when genuinely signed', () => {
  const { registry, now, cert } = fixture()
  const other = keyPair().id
  assert.throws(() => check(cert, { registry: registry.id, peer: other, now }), certError('another peer'))
  // Rewriting the peer field to ours breaks the signature.
  assert.throws(() => check({ ...cert, peer: other }, { registry: registry.id, peer: other, now }), certError('signature'))
})

test('a certificate from another registry is refused, and one claiming our registry but signed by another key fails the signature', () => {
  const { registry, peer, now, cert } = fixture()
  const foreign = keyPair()
  assert.throws(() => check(cert, { registry: foreign.id, peer, now }), certError('another registry'))
  const forged = issue(foreign.secretKey, { role: 'Worker', variant: 'w1', peer, registry: registry.id, expires: now + 60_000 })
  assert.throws(() => check(forged, { registry: registry.id, peer, now }), certError('signature'))
})

test('a certificate is refused from the moment it expires', () => {
  const { registry, peer, cert } = fixture()
  assert.doesNotThrow(() => check(cert, { registry: registry.id, peer, now: cert.expires - 1 }))
  assert.throws(() => check(cert, { registry: registry.id, peer, now: cert.expires }), certError('expired'))
  assert.throws(() => check(cert, { registry: registry.id, peer, now: cert.expires + 3_600_000 }), certError('expired'))
})

test('a malformed certificate is refused as malformed', () => {
  const { registry, peer, now, cert } = fixture()
  const bad: unknown[] = [undefined, null, 'cert', 42, {}, { ...cert, expires: String(cert.expires) }, { ...cert, sig: undefined }, { ...cert, role: 1 }]
  for (const c of bad) assert.throws(() => check(c, { registry: registry.id, peer, now }), certError('malformed'), JSON.stringify(c))
})
