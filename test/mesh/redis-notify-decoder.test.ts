import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { PeerwardenError } from '../../src/errors.js'
import { MAX_NOTIFY_FRAME, NotifyDecoder } from '../../src/mesh/redis-notify-decoder.js'

const CHANNEL = '__keyspace@0__:peerwarden:queue:Worker:log'
const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`
const message = (payload: string): string => `*3\r\n${bulk('message')}${bulk(CHANNEL)}${bulk(payload)}`

test('the notification decoder gives subscriptions, replies and wake-ups, never a payload, across any split of the bytes', () => {
  const bytes = Buffer.from(`+OK\r\n*3\r\n${bulk('subscribe')}${bulk(CHANNEL)}:1\r\n${message('xadd')}-NOPERM no\r\n${message('xtrim')}`)
  const want = [{ kind: 'ok' }, { kind: 'subscribe', channel: CHANNEL }, { kind: 'message', channel: CHANNEL }, { kind: 'error', message: 'NOPERM no' }, { kind: 'message', channel: CHANNEL }]
  for (let size = 1; size <= bytes.length; size++) {
    const d = new NotifyDecoder()
    const got = []
    for (let at = 0; at < bytes.length; at += size) got.push(...d.push(bytes.subarray(at, at + size)))
    assert.deepEqual(got, want, `chunks of ${size}`)
  }
})

test('the notification decoder refuses a payload over MAX_NOTIFY_FRAME at its header, before the rest arrives, and any other shape', () => {
  const refused = (bytes: string): void => {
    assert.throws(() => new NotifyDecoder().push(Buffer.from(bytes)), (err: PeerwardenError) => err.code === 'ERR_QUEUE', JSON.stringify(bytes.slice(0, 60)))
  }
  refused(`*3\r\n${bulk('message')}${bulk(CHANNEL)}$536870912\r\n`)
  refused(message('x'.repeat(MAX_NOTIFY_FRAME + 1)))
  refused('+' + 'x'.repeat(MAX_NOTIFY_FRAME + 10))
  refused('*4\r\n')
  refused(`*3\r\n${bulk('pmessage')}${bulk(CHANNEL)}${bulk('x')}`)
  refused(`*3\r\n${bulk('message')}:1\r\n${bulk('x')}`)
  refused(`*3\r\n${bulk('subscribe')}${bulk(CHANNEL)}${bulk('x')}`)
  refused('$4\r\nxadd\r\n')
  refused(`*3\r\n$7\r\nmessageXX${bulk(CHANNEL)}${bulk('x')}`)
  // A message of exactly the bound is fine.
  assert.deepEqual(new NotifyDecoder().push(Buffer.from(message('x'.repeat(MAX_NOTIFY_FRAME - 100)))), [{ kind: 'message', channel: CHANNEL }])
})
