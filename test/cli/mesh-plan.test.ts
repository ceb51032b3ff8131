import assert from 'node:assert/strict'
import { test } from 'node:test'
import { instancesByRole, planCall, statusLines } from '../../src/cli/mesh.js'
import { PeerwardenError } from '../../src/errors.js'
import type { HealthReport } from '../../src/mesh/messages.js'
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

test('status shows each instance up or draining, the breakers held against it (counted by state) and those it holds; registries\' reports merge', () => {
  const A1 = 'e'.repeat(64)
  const A2 = 'f'.repeat(64)
  const api = (peer: string, variant: string, health: HealthReport | undefined) => ({ peer, role: 'Api', variant, addresses: [], since: 1000, expires: 5000, ...(health === undefined ? {} : { health }) })
  const answers: StatusAnswer[] = [
    {
      address: `tcp://127.0.0.1:4000#${A}`,
      id: A,
      ok: true,
      status: {
        registry: A,
        members: [
          { ...member(P1, 'w1', 1000, 5000), health: { draining: true, breakers: [] } },
          member(P2, 'w2', 1000, 5000),
          api(A1, 'a1', { draining: false, breakers: [{ peer: P2, state: 'open' }] }),
          api(A2, 'a2', { draining: false, breakers: [{ peer: P2, state: 'half-open' }, { peer: 'd'.repeat(64), state: 'open' }] })
        ],
        schema: outline
      }
    },
    // Another registry heard a1 earlier (half-open) and a2 later (open): a breaker one of them saw open is open.
    { address: `tcp://127.0.0.1:4001#${B}`, id: B, ok: true, status: { registry: B, members: [api(A1, 'a1', { draining: false, breakers: [{ peer: P2, state: 'half-open' }] }), api(A2, 'a2', undefined)], schema: outline } }
  ]
  const byRole = instancesByRole(answers)
  const [w1, w2] = byRole.get('Worker')!
  assert.equal(w1.state, 'draining')
  assert.equal(w2.state, 'up')
  assert.deepEqual(w2.against.map((b) => [b.variant, b.state]), [['a1', 'open'], ['a2', 'half-open']])
  assert.deepEqual(w1.against, [])
  const [a1, a2] = byRole.get('Api')!
  assert.deepEqual(a1.holds, [{ peer: P2, role: 'Worker', variant: 'w2', state: 'open' }])
  // A breaker against an instance no registry lists is shown by its peer id.
  assert.deepEqual(a2.holds.map((h) => [h.variant, h.state]), [['w2', 'half-open'], [undefined, 'open']])
  assert.ok(!('health' in a1), 'the raw report is not repeated in the row')

  const lines = statusLines(answers)
  const line = (v: string): string => lines.find((l) => l.trim().startsWith(`${v} `)) ?? ''
  assert.match(line('w1'), /^ {2}w1 {2}draining {2}peer /)
  assert.match(line('w2'), /^ {2}w2 {2}up {2}peer .*; breaker open at 1 caller, half-open at 1 caller$/)
  assert.match(line('a1'), /; holds breakers: open against Worker\/w2$/)
  assert.match(line('a2'), /; holds breakers: half-open against Worker\/w2, open against dddddddddddd…$/)
})

test('status does not show a breaker its holder claims against itself or against a listed instance of a role its role may not call (an older registry passes them on)', () => {
  const A1 = 'e'.repeat(64)
  const report = (peer: string, role: string, variant: string, breakers: HealthReport['breakers']) => ({ peer, role, variant, addresses: [], since: 1000, expires: 5000, health: { draining: false, breakers } })
  const answers: StatusAnswer[] = [{
    address: `tcp://127.0.0.1:4000#${A}`,
    id: A,
    ok: true,
    status: {
      registry: A,
      members: [
        report(P1, 'Worker', 'w1', [{ peer: P2, state: 'open' }, { peer: A1, state: 'open' }, { peer: P1, state: 'open' }]),
        member(P2, 'w2', 1000, 5000),
        report(A1, 'Api', 'a1', [{ peer: A1, state: 'open' }, { peer: P2, state: 'open' }])
      ],
      schema: outline
    }
  }]
  const byRole = instancesByRole(answers)
  const [w1, w2] = byRole.get('Worker')!
  assert.deepEqual(w1.holds, [], 'a Worker calls nobody')
  assert.deepEqual(w2.against.map((b) => b.variant), ['a1'])
  assert.deepEqual(byRole.get('Api')![0]!.holds.map((h) => h.variant), ['w2'])
})
