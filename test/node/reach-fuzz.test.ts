import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { decodeControl } from '../../src/node/control-wire.js'
import { decodeHello, encodeHello } from '../../src/node/hello.js'
import { decodeRelay, MAX_RELAY_DATA, relayData } from '../../src/node/relay-wire.js'
import { MALFORMED } from '../../src/node/wire.js'

// The decoders of reachability's messages, fed what a hostile peer could send: none throws, and
// what they return is within the limits they state. PEERWARDEN_FUZZ_RUNS sets the runs (default 300).

const RUNS = Number(process.env.PEERWARDEN_FUZZ_RUNS ?? 300)
const weird = fc.oneof(fc.jsonValue(), fc.constant({ __proto__: null }), fc.constant(-1), fc.constant(1e308), fc.constant(Number.MAX_SAFE_INTEGER + 2), fc.string())
const field = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: weird })
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/)

const relayMessages = fc.oneof(
  fc.record({ t: fc.constant('reserve') }),
  fc.record({ t: fc.constant('reserved'), ttl: field(fc.nat()), duration: field(fc.nat()), data: field(fc.nat()) }),
  fc.record({ t: fc.constant('refused'), why: field(fc.string({ maxLength: 100 })) }),
  fc.record({ t: field(fc.constantFrom('connect', 'incoming')), id: field(fc.nat()), peer: field(hex64) }),
  fc.record({ t: fc.constant('close'), id: field(fc.nat()), why: field(fc.string({ maxLength: 100 })) }, { requiredKeys: ['t', 'id'] }),
  fc.jsonValue()
)

test('fuzz: relay channel messages decode or are refused, never throw', () => {
  fc.assert(fc.property(relayMessages, (m) => {
    const r = decodeRelay(m)
    if (r.ok && (r.value.t === 'connect' || r.value.t === 'incoming')) assert.match(r.value.peer, /^[0-9a-f]{64}$/)
  }), { numRuns: RUNS })
})

test('fuzz: arbitrary bytes as a relay data message decode to a bounded chunk or MALFORMED, never throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: MAX_RELAY_DATA + 64 }), (bytes) => {
    const v = relayData.decode({ start: 0, end: bytes.byteLength, buffer: bytes })
    if (v !== MALFORMED) assert.ok(v.data.byteLength <= MAX_RELAY_DATA && Number.isSafeInteger(v.id))
  }), { numRuns: RUNS })
})

test('fuzz: dial-back and punch control messages decode or are refused, never throw', () => {
  const msgs = fc.oneof(
    fc.record({ t: fc.constant('dialback'), id: field(fc.nat()), port: field(fc.integer({ min: -10, max: 70000 })), nonce: field(fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), fc.string({ maxLength: 40 }))) }, { requiredKeys: ['t', 'id', 'port'] }),
    fc.record({ t: fc.constant('dialback-result'), id: field(fc.nat()), result: field(fc.constantFrom('ok', 'failed', 'refused', 'maybe')) }),
    fc.record({ t: fc.constant('punch'), address: field(fc.oneof(fc.string({ maxLength: 300 }), fc.ipV4().map((ip) => `tcp://${ip}:4001`))) }),
    fc.record({ t: fc.constant('punch-sync') })
  )
  fc.assert(fc.property(msgs, (m) => {
    const r = decodeControl(m)
    if (r.ok && r.value.t === 'dialback') assert.ok(r.value.port >= 1 && r.value.port <= 65535 && (r.value.nonce === undefined || /^[0-9a-f]{32}$/.test(r.value.nonce)))
    if (r.ok && r.value.t === 'punch') assert.ok(r.value.address.length <= 256)
  }), { numRuns: RUNS })
})

test('fuzz: hellos with arbitrary trailing fields and flags decode or are refused, never throw; an observed port is 1-65535', () => {
  const good = fc.record({ listen: fc.array(fc.string({ maxLength: 40 }), { maxLength: 4 }), rendezvous: fc.boolean(), observed: fc.option(fc.ipV4(), { nil: undefined }), observedPort: fc.option(fc.nat({ max: 65535 }).filter((p) => p > 0), { nil: undefined }), probe: fc.boolean(), relay: fc.boolean(), nonce: fc.option(fc.stringMatching(/^[0-9a-f]{32}$/), { nil: undefined }) })
  fc.assert(fc.property(good, fc.uint8Array({ maxLength: 16 }), fc.nat({ max: 255 }), (h, tail, flags) => {
    const bytes = encodeHello(h)
    bytes[1] = flags
    const d = decodeHello(Buffer.concat([bytes, tail]))
    if (d?.observedPort !== undefined) assert.ok(d.observedPort >= 1 && d.observedPort <= 65535)
    if (d?.nonce !== undefined) assert.match(d.nonce, /^[0-9a-f]{32}$/)
  }), { numRuns: RUNS })
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => { decodeHello(Buffer.from(bytes)) }), { numRuns: RUNS })
})
