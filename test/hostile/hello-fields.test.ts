import assert from 'node:assert/strict'
import { test } from 'node:test'
import { normaliseHintAddress } from '../../src/node/address.js'
import { decodeHello, encodeHello } from '../../src/node/hello.js'
import { MAX_ADDRESS_LENGTH } from '../../src/node/wire.js'

// A hostile hello: its listen addresses go to the hint parser (address.ts) on every connection, on a
// refusal too (the newcomer is registered for its topics). One address of 64 KB — a relayed address
// whose relay is a relayed address, nested 900 times — was parsed once per nesting level, each time
// over the whole rest of the string: about 74 ms of the event loop per hello, for one handshake.

const relayHop = `/relay/${'a'.repeat(64)}`
const nested = `tcp://192.0.2.1:4000${relayHop.repeat(900)}`

test('a hello\'s listen addresses longer than MAX_ADDRESS_LENGTH are dropped when it is decoded; the others are kept', () => {
  const fine = `tcp://192.0.2.1:4000${relayHop}`
  const hello = decodeHello(encodeHello({ listen: [nested, fine, 'x'.repeat(MAX_ADDRESS_LENGTH + 1), 'x'.repeat(MAX_ADDRESS_LENGTH)], rendezvous: false }))
  assert.notEqual(hello, null)
  assert.deepEqual(hello!.listen, [fine, 'x'.repeat(MAX_ADDRESS_LENGTH)])
})

test('the hint parser refuses an address longer than MAX_ADDRESS_LENGTH before parsing it (nested relays are not walked)', () => {
  let walked = 0
  const exec = RegExp.prototype.exec
  // Counting the parser's work (no timing in tests); restored below.
  // eslint-disable-next-line no-extend-native
  RegExp.prototype.exec = function (this: RegExp, s: string) { walked++; return exec.call(this, s) }
  try {
    assert.equal(normaliseHintAddress(nested), undefined)
  } finally {
    // eslint-disable-next-line no-extend-native
    RegExp.prototype.exec = exec
  }
  assert.ok(walked <= 1, `the parser ran ${walked} regular expressions over a ${nested.length}-character address`)
  assert.equal(normaliseHintAddress(`tcp://192.0.2.1:4000${relayHop}`), `tcp://192.0.2.1:4000${relayHop}`)
})
