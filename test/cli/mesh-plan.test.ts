import assert from 'node:assert/strict'
import { test } from 'node:test'
import { instancesByRole, planCall, statusLines } from '../../src/cli/mesh.js'
import { PeerwardenError } from '../../src/errors.js'
import type { StatusAnswer } from '../../src/mesh/registry-status.js'
import type { MeshSchema } from '../../src/mesh/schema.js'

// The pure parts of `peerwarden mesh`: what a call resolves to, and how the registries' answers print.

const outline: MeshSchema = {
  Api: { _allow: 'anyNode', _connect: ['Worker'], _commands: { _balanced: {}, _broadcast: {} } },
  Admin: { _allow: 'anyNode', _connect: ['Worker'], _commands: {} },
  Worker: { _allow: ['Api', 'Admin'], _connect: [], _commands: { _balanced: { resize: { responds: true } }, _broadcast: { status: { responds: true } } } }
}

const code = (c: string) => (err: unknown): boolean => { assert.ok(err instanceof PeerwardenError); assert.equal(err.code, c, err.message); return true }

test('planCall picks the first role that may call the target, resolves names ignoring case, and defaults the arguments to {}', () => {
  assert.deepEqual(planCall(outline, 'worker.resize', '{"w":2}', undefined), { role: 'Api', target: 'Worker', command: 'resize', args: { w: 2 } })
  assert.deepEqual(planCall(outline, 'Worker.status', undefined, 'admin'), { role: 'Admin', target: 'Worker', command: 'status', args: {} })
})

test('planCall refuses a bad target, an unknown role or command, bad JSON and a role that may not call', () => {
  assert.throws(() => planCall(outline, 'Worker', undefined, undefined), code('ERR_INVALID_ARGUMENT'))
  assert.throws(() => planCall(outline, 'Nobody.x', undefined, undefined), code('ERR_INVALID_ARGUMENT'))
  assert.throws(() => planCall(outline, 'Worker.nope', undefined, undefined), code('ERR_UNKNOWN_COMMAND'))
  assert.throws(() => planCall(outline, 'Worker.resize', '{w:1}', undefined), code('ERR_INVALID_ARGUMENT'))
  assert.throws(() => planCall(outline, 'Worker.resize', undefined, 'Worker'), code('ERR_NOT_ALLOWED'))
  assert.throws(() => planCall(outline, 'Worker.resize', undefined, 'Ghost'), code('ERR_INVALID_ARGUMENT'))
})

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const P1 = '1'.repeat(64)
const P2 = '2'.repeat(64)
const member = (peer: string, variant: string, since: number, expires: number) => ({ peer, role: 'Worker', variant, addresses: ['tcp://127.0.0.1:5000'], since, expires })

test('an instance listed by two registries prints once, with both counted; a registry down prints its code', () => {
  const answers: StatusAnswer[] = [
    { address: `tcp://127.0.0.1:4000#${A}`, id: A, ok: true, status: { registry: A, members: [member(P1, 'w1', 1000, 5000), member(P2, 'w2', 1000, 5000)], schema: outline } },
    { address: `tcp://127.0.0.1:4001#${B}`, id: B, ok: true, status: { registry: B, members: [member(P1, 'w1', 500, 9000)], schema: outline } },
    { address: 'tcp://127.0.0.1:4002#' + 'c'.repeat(64), id: 'c'.repeat(64), ok: false, error: new PeerwardenError('ERR_DIAL_FAILED', 'refused') }
  ]
  const rows = instancesByRole(answers).get('Worker')!
  assert.deepEqual(rows.map((r) => [r.variant, r.registries.length, r.since, r.expires]), [['w1', 2, 500, 9000], ['w2', 1, 1000, 5000]])
  const lines = statusLines(answers)
  assert.equal(lines.filter((l) => l.startsWith('registry ')).length, 3)
  assert.ok(lines.some((l) => l.includes('4002: ERR_DIAL_FAILED refused')))
  assert.ok(lines.includes('Worker: 2 instances; commands resize, status (broadcast)'))
  assert.ok(lines.some((l) => l.trim().startsWith('w1 ') && l.includes('listed by 2/2 registries')))
  assert.ok(lines.includes('Api: 0 instances'))
})
