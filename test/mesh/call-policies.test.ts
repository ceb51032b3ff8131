import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PeerwardenError } from '../../src/errors.js'
import { Breaker, breakerOptions } from '../../src/mesh/breaker.js'
import { Caller } from '../../src/mesh/caller.js'
import type { Instance } from '../../src/mesh/instance.js'
import { CallMetrics, LATENCY_BUCKETS } from '../../src/mesh/metrics.js'
import { classify, instanceFault, metricCode, nextDelay } from '../../src/mesh/retry.js'
import type { OutgoingRpc, Outbox } from '../../src/mesh/rpc-wire.js'
import { Schema, type MeshSchema } from '../../src/mesh/schema.js'
import { childTraceparent, parseTraceparent } from '../../src/mesh/trace.js'
import { ManualClock } from '../../src/testing/index.js'

// The call path's policies in virtual time: the breaker, the retry rules, the metrics, and the
// caller driven by hand (fake instances record what they are sent; answers are fed to onReply).

type Call = Extract<OutgoingRpc, { t: 'call' }>

function remote (code: string): PeerwardenError {
  return new PeerwardenError('ERR_REMOTE', `w: ${code}`, { cause: { message: code, code } })
}

test('Breaker: opens at the failure share after minRequestCount calls in a window, half-opens after halfOpenTime, one probe decides', () => {
  const b = new Breaker(breakerOptions({ threshold: 0.5, minRequestCount: 4, windowTime: 10_000, halfOpenTime: 5_000 }))
  b.record(false, 0)
  b.record(true, 1)
  b.record(false, 2)
  assert.equal(b.state(3), 'closed', 'three calls: under minRequestCount')
  b.record(true, 3)
  assert.equal(b.state(3), 'open', '2 of 4 failed: 50 %')
  assert.equal(b.allow(4_999 + 3), false)
  assert.equal(b.state(5_003), 'half-open')
  assert.equal(b.allow(5_003), true, 'the probe')
  assert.equal(b.allow(5_003), false, 'one probe at a time')
  b.record(true, 5_010)
  assert.equal(b.state(5_010), 'open', 'a failed probe opens it again')
  assert.equal(b.state(10_009), 'open')
  assert.equal(b.allow(10_010), true)
  b.record(false, 10_011)
  assert.equal(b.state(10_011), 'closed', 'a good probe closes it')
  assert.deepEqual(b.counts(), { calls: 0, failures: 0 })
})

test('Breaker: counts restart with each window, so old failures do not add up with new ones', () => {
  const b = new Breaker(breakerOptions({ threshold: 0.5, minRequestCount: 2, windowTime: 1_000, halfOpenTime: 100 }))
  b.record(true, 0)
  b.record(true, 1_000)
  assert.equal(b.state(1_000), 'closed', 'one failure in each window')
  b.record(true, 1_500)
  assert.equal(b.state(1_500), 'open')
})

test('breakerOptions refuses bad values naming the field', () => {
  assert.throws(() => breakerOptions({ threshold: 2 }), /breaker\.threshold/)
  assert.throws(() => breakerOptions({ minRequestCount: 0 }), /breaker\.minRequestCount/)
  assert.throws(() => breakerOptions({ windowTme: 1 } as never), /windowTme/)
})

test('retry rules: refusals fail over, lost attempts retry (when idempotent), the rest is final; delays grow and cap', () => {
  assert.equal(classify(remote('ERR_BUSY')), 'refused')
  assert.equal(classify(remote('ERR_DRAINING')), 'refused')
  assert.equal(classify(new PeerwardenError('ERR_CONNECTION_CLOSED', 'x')), 'lost')
  assert.equal(classify(new PeerwardenError('ERR_TIMEOUT', 'x')), 'lost')
  assert.equal(classify(remote('E_APP')), 'final')
  assert.equal(classify(new PeerwardenError('ERR_ABORTED', 'x')), 'final')
  assert.equal(classify(new Error('x')), 'final')
  assert.equal(instanceFault(remote('E_APP')), true)
  assert.equal(instanceFault(remote('ERR_DRAINING')), false)
  assert.equal(instanceFault(remote('ERR_INVALID_ARGUMENT')), false)
  // Our schema allowed the call before it left: an instance refusing it so disagrees with the schema (or lies).
  assert.equal(instanceFault(remote('ERR_NOT_ALLOWED')), true)
  assert.equal(instanceFault(remote('ERR_UNKNOWN_COMMAND')), true)
  assert.equal(instanceFault(new PeerwardenError('ERR_ABORTED', 'x')), false)
  assert.equal(metricCode(remote('E_ANY_PEER_STRING')), 'ERR_REMOTE', 'a peer string is never a label')
  assert.equal(metricCode(remote('ERR_BUSY')), 'ERR_BUSY')
  const policy = { delay: 50, maxDelay: 300, factor: 2 }
  assert.deepEqual([1, 2, 3, 4, 5].map((a) => nextDelay(a, policy, 0.999999)).map(Math.round), [50, 100, 200, 300, 300])
  assert.equal(nextDelay(1, policy, 0), 25, 'jitter: at least half')
})

test('traceparent: a child keeps the trace id and flags under a new span id; a bad parent starts a new trace', () => {
  const root = childTraceparent(undefined)
  const r = parseTraceparent(root)
  assert.ok(r !== undefined)
  assert.equal(r.flags, 1)
  const child = parseTraceparent(childTraceparent(root))!
  assert.equal(child.traceId, r.traceId)
  assert.notEqual(child.spanId, r.spanId)
  assert.notEqual(parseTraceparent(childTraceparent('00-zz'))!.traceId, r.traceId)
  assert.equal(parseTraceparent(`00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`), undefined, 'an all-zero trace id is invalid')
})

test('CallMetrics: outcomes by code and latency in buckets, per command and instance', () => {
  const schema = new Schema({ W: { _commands: { _balanced: { a: () => 1 } } } })
  const command = schema.role('W')!.commands.get('a')!
  const m = new CallMetrics()
  const f = m.start(command, 'v1')
  assert.equal(m.figures()[0].inFlight, 1)
  m.end(f, 0.5, 'OK')
  m.end(m.start(command, 'v1'), 30, 'ERR_TIMEOUT')
  m.end(m.start(command, 'v1'), 60_000, 'OK')
  const [fig] = m.figures()
  assert.deepEqual(fig.outcomes, { OK: 2, ERR_TIMEOUT: 1 })
  assert.equal(fig.inFlight, 0)
  assert.equal(fig.latency.counts[0], 1, '0.5 ms: the first bucket')
  assert.equal(fig.latency.counts[LATENCY_BUCKETS.indexOf(0.05)], 1, '30 ms: the 50 ms bucket')
  assert.equal(fig.latency.counts[LATENCY_BUCKETS.length], 1, '60 s: over the last bucket')
})

// ── the caller, by hand ──────────────────────────────────────────────────────

interface Rig {
  clock: ManualClock
  caller: Caller
  instances: Map<string, Instance>
  sent: Array<{ to: string; msg: OutgoingRpc }>
  add: (peer: string) => Instance
  calls: (to: string) => Call[]
}

function rig (commands: MeshSchema[string]['_commands'], breaker?: Parameters<typeof breakerOptions>[0]): Rig {
  const schema = new Schema({ Api: { _connect: ['Worker'] }, Worker: { _allow: ['Api'], _commands: commands } })
  const clock = new ManualClock(1_000_000)
  const instances = new Map<string, Instance>()
  const sent: Rig['sent'] = []
  const caller = new Caller({ schema, me: schema.role('Api')!, instances, timeout: 10_000, queue: undefined, from: 'Api/a', clock, breaker: breaker === undefined ? undefined : breakerOptions(breaker), random: () => 0 })
  const add = (peer: string): Instance => {
    const i: Instance = {
      peer,
      role: 'Worker',
      variant: peer,
      who: { role: 'Worker', variant: peer },
      mayCall: false,
      send: { send: (msg: OutgoingRpc) => { sent.push({ to: peer, msg }) } } as unknown as Outbox,
      outstanding: 0,
      lastPicked: 0,
      busyUntil: 0,
      draining: false,
      drains: true,
      running: new Map(),
      heldBytes: 0
    }
    instances.set(peer, i)
    return i
  }
  const calls = (to: string): Call[] => sent.filter((s) => s.to === to && s.msg.t === 'call').map((s) => s.msg as Call)
  return { clock, caller, instances, sent, add, calls }
}

function answerError (r: Rig, to: string, call: Call, code: string): void {
  r.caller.onReply({ t: 'result', id: call.id, ok: false, error: { message: code, code } }, r.instances.get(to)!)
}

const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

test('caller: an idempotent call whose instance went away is retried on another one after the backoff, as attempt 2 of the same trace', async () => {
  const r = rig({ _balanced: { work: { idempotent: true, method: () => 1 } } })
  const a = r.add('a')
  r.add('b')
  // A call outside any trace carries none (its handler starts one): this one continues the application's.
  const p = (r.caller.calls(Infinity) as any).Worker.work({ n: 1 }, { traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` })
  const first = [...r.calls('a'), ...r.calls('b')]
  assert.equal(first.length, 1)
  const firstTo = r.calls('a').length === 1 ? 'a' : 'b'
  const other = firstTo === 'a' ? 'b' : 'a'
  r.caller.gone(r.instances.get(firstTo)!)
  r.instances.delete(firstTo)
  await flush()
  assert.equal(r.calls(other).length, 0, 'not before the backoff')
  await r.clock.advance(24)
  assert.equal(r.calls(other).length, 0)
  await r.clock.advance(1)
  const [retry] = r.calls(other)
  assert.ok(retry !== undefined, 'retried after 25 ms (50 ms with the lowest jitter)')
  assert.equal(retry.attempt, 2)
  assert.equal(retry.trace, first[0].trace)
  assert.ok(retry.trace?.startsWith(`00-${'ab'.repeat(16)}-`) === true)
  assert.equal(first[0].attempt, undefined, 'attempt 1 is not written')
  r.caller.onReply({ t: 'result', id: retry.id, ok: true, value: 'done' }, r.instances.get(other)!)
  assert.equal(await p, 'done')
  void a
})

test('caller: a non-idempotent call whose instance went away fails with ERR_CONNECTION_CLOSED, and is not sent again', async () => {
  const r = rig({ _balanced: { work: () => 1 } })
  r.add('a')
  r.add('b')
  const p = (r.caller.calls(Infinity) as any).Worker.work()
  const to = r.calls('a').length === 1 ? 'a' : 'b'
  r.caller.gone(r.instances.get(to)!)
  await assert.rejects(p, (err: PeerwardenError) => err.code === 'ERR_CONNECTION_CLOSED')
  await r.clock.advance(5_000)
  assert.equal(r.calls('a').length + r.calls('b').length, 1)
})

test('caller: a refusal (ERR_BUSY) goes to another instance at once, even for a non-idempotent call; the busy one comes last for a second', async () => {
  const r = rig({ _balanced: { work: () => 1 } })
  r.add('a')
  r.add('b')
  const p = (r.caller.calls(Infinity) as any).Worker.work()
  const to = r.calls('a').length === 1 ? 'a' : 'b'
  const other = to === 'a' ? 'b' : 'a'
  answerError(r, to, r.calls(to)[0], 'ERR_BUSY')
  await flush()
  const [second] = r.calls(other)
  assert.equal(second.attempt, 2)
  r.caller.onReply({ t: 'result', id: second.id, ok: true, value: 7 }, r.instances.get(other)!)
  assert.equal(await p, 7)
  // Both idle now: the busy one would win the round-robin, but comes after the other.
  void (r.caller.calls(Infinity) as any).Worker.work()
  assert.equal(r.calls(other).length, 2)
  await r.clock.advance(1_000)
  void (r.caller.calls(Infinity) as any).Worker.work()
  assert.equal(r.calls(to).length, 2, 'a second later it is picked again')
})

test('caller: when every instance failed the fallback answers; the call option overrides the command\'s', async () => {
  const r = rig({ _balanced: { work: { fallback: (args: { n: number }, err: Error) => `fallback ${args.n} ${(err as PeerwardenError).code}`, method: () => 1 } } })
  const call = (r.caller.calls(Infinity) as any).Worker.work
  assert.equal(await call({ n: 1 }), 'fallback 1 ERR_NO_INSTANCE')
  r.add('a')
  const p = call({ n: 2 })
  answerError(r, 'a', r.calls('a')[0], 'E_APP')
  assert.equal(await p, 'fallback 2 ERR_REMOTE')
  r.instances.clear()
  assert.equal(await call({ n: 3 }, { fallback: () => 'mine' }), 'mine')
  await assert.rejects(call({ n: 4 }, { signal: AbortSignal.abort() }), (err: PeerwardenError) => err.code === 'ERR_ABORTED', 'the caller\'s abort is not a failure a fallback answers')
})

test('caller: the breaker skips an instance after its failures, half-opens on schedule in virtual time, and a good probe closes it', async () => {
  const r = rig({ _balanced: { work: () => 1 } }, { threshold: 0.5, minRequestCount: 4, windowTime: 60_000, halfOpenTime: 10_000 })
  r.add('a')
  const call = (r.caller.calls(Infinity) as any).Worker.work
  for (let k = 0; k < 4; k++) {
    const p = call()
    answerError(r, 'a', r.calls('a').at(-1)!, 'E_APP')
    await assert.rejects(p)
  }
  assert.equal(r.caller.breakerFigures()[0].state, 'open')
  await assert.rejects(call(), (err: PeerwardenError) => err.code === 'ERR_NO_INSTANCE')
  assert.equal(r.calls('a').length, 4, 'skipped: nothing sent')
  await r.clock.advance(9_999)
  assert.equal(r.caller.breakerFigures()[0].state, 'open')
  await r.clock.advance(1)
  assert.equal(r.caller.breakerFigures()[0].state, 'half-open')
  const probe = call()
  assert.equal(r.calls('a').length, 5, 'the probe goes')
  await assert.rejects(call(), (err: PeerwardenError) => err.code === 'ERR_NO_INSTANCE', 'one probe at a time')
  r.caller.onReply({ t: 'result', id: r.calls('a')[4].id, ok: true, value: 1 }, r.instances.get('a')!)
  assert.equal(await probe, 1)
  assert.equal(r.caller.breakerFigures()[0].state, 'closed')
})

test('caller: arguments that do not match params fail at once with ERR_INVALID_ARGUMENT naming the field; nothing is sent', async () => {
  const v = await import('valibot')
  const r = rig({ _balanced: { resize: { params: v.object({ size: v.object({ w: v.number() }) }), method: () => 1 } } })
  r.add('a')
  await assert.rejects((r.caller.calls(Infinity) as any).Worker.resize({ size: { w: 'x' } }), (err: PeerwardenError) => {
    assert.equal(err.code, 'ERR_INVALID_ARGUMENT')
    assert.match(err.message, /Worker\.resize: args\.size\.w: /)
    return true
  })
  assert.equal(r.sent.length, 0)
})

test('the call decoder checks attempt and trace: out-of-range attempts and malformed traceparents are refused; an older call without them decodes', async () => {
  const { decodeRpc, decodeHello } = await import('../../src/mesh/messages.js')
  const trace = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`
  const call = { t: 'call', id: 1, cmd: 'work', args: null, deadline: null }
  assert.equal(decodeRpc(call).ok, true)
  assert.equal(decodeRpc({ ...call, attempt: 2, trace }).ok, true)
  for (const attempt of [0, 33, 1.5, '2', -1]) assert.equal(decodeRpc({ ...call, attempt }).ok, false, `attempt ${String(attempt)}`)
  for (const bad of [trace.toUpperCase(), `${trace}0`, `01${trace.slice(2)}`, `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`, 7, '']) {
    assert.equal(decodeRpc({ ...call, trace: bad }).ok, false, `trace ${String(bad)}`)
  }
  assert.equal(decodeRpc({ t: 'drain' }).ok, true)
  assert.equal(decodeRpc({ t: 'drain-ack' }).ok, true)
  const hello = decodeHello({ cert: { role: 'A', variant: 'a', peer: 'a'.repeat(64), registry: 'b'.repeat(64), expires: 1, sig: 'c'.repeat(128) }, drain: 'yes' })
  assert.equal(hello.ok, false, 'drain must be a boolean')
})

test('Drain: only instances whose handshake said drain are told; start resolves once each acknowledged or went away', async () => {
  const { Drain } = await import('../../src/mesh/drain.js')
  const sent: string[] = []
  const instance = (peer: string, drains: boolean): Instance => ({
    peer, role: 'Api', variant: peer, who: { role: 'Api', variant: peer }, mayCall: true, outstanding: 0, lastPicked: 0, busyUntil: 0, draining: false, drains, running: new Map(), heldBytes: 0,
    send: { send: (msg: OutgoingRpc) => { sent.push(`${peer}:${msg.t}`) } } as unknown as Outbox
  })
  const newer = instance('new', true)
  const older = instance('old', false)
  const late = instance('late', true)
  const d = new Drain()
  let done = false
  const started = d.start([newer, older]).then(() => { done = true })
  assert.deepEqual(sent, ['new:drain'], 'an older peer is not sent a message type it would refuse')
  d.listed(late)
  assert.deepEqual(sent, ['new:drain', 'late:drain'], 'an instance listed during the drain is told at once')
  d.heard(newer)
  await flush()
  assert.equal(done, false)
  d.heard(late)
  await started
  assert.equal(done, true)
  assert.equal(await new Drain().start([older]).then(() => 'at once'), 'at once')
})

test('caller: an idempotent attempt past retries.perAttempt is cancelled and retried on another instance, within the call\'s deadline', async () => {
  const r = rig({ _balanced: { work: { idempotent: true, retries: { perAttempt: 100 }, method: () => 1 } } })
  r.add('a')
  r.add('b')
  const p = (r.caller.calls(Infinity) as any).Worker.work()
  const first = r.calls('a').length === 1 ? 'a' : 'b'
  const other = first === 'a' ? 'b' : 'a'
  assert.equal(r.calls(first)[0].deadline, 1_000_100, 'the attempt carries its own deadline')
  await r.clock.advance(100)
  assert.ok(r.sent.some((s) => s.to === first && s.msg.t === 'cancel'), 'the slow attempt is cancelled')
  await r.clock.advance(25)
  const [second] = r.calls(other)
  assert.equal(second?.attempt, 2)
  r.caller.onReply({ t: 'result', id: second.id, ok: true, value: 'late but fine' }, r.instances.get(other)!)
  assert.equal(await p, 'late but fine')
})
