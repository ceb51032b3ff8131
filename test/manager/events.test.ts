import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ManagerEventTarget, OBSERVE, observe } from '../../src/manager/events.js'

test('a direct observer hears the detail of its type before the listeners, and makes the type listened to', () => {
  const events = new ManagerEventTarget()
  const heard: string[] = []
  assert.equal(events.listens('trim'), false)
  events.addEventListener('trim', (e) => { heard.push(`listener ${(e as CustomEvent<{ closed: number }>).detail.closed}`) })
  events[OBSERVE]('trim', (d) => { heard.push(`observer ${d.closed}`) })
  events[OBSERVE]('dial:failed', () => { heard.push('wrong type') })
  assert.equal(events.listens('dial:failed'), true, 'an observer alone makes the type listened to')
  events.emit('trim', { closed: 2, reason: 'watermark' })
  assert.deepEqual(heard, ['observer 2', 'listener 2'])
})

test('an observer that throws breaks neither the emit nor the other observers; the error is thrown on a later microtask', () => {
  const events = new ManagerEventTarget()
  let second = 0
  events[OBSERVE]('peer:disconnected', () => { throw new Error('observer bug') })
  events[OBSERVE]('peer:disconnected', () => { second++ })
  const later: Array<() => void> = []
  const queue = globalThis.queueMicrotask
  globalThis.queueMicrotask = (fn) => { later.push(fn) }
  try {
    events.emit('peer:disconnected', { peer: 'p' })
  } finally {
    globalThis.queueMicrotask = queue
  }
  assert.equal(second, 1)
  assert.equal(later.length, 1)
  assert.throws(later[0], /observer bug/)
})

test('observe() uses addEventListener on a target that is not a ManagerEventTarget', () => {
  const target = new EventTarget()
  const peers: string[] = []
  observe(target, 'peer:disconnected', (d) => { peers.push(d.peer) })
  target.dispatchEvent(new CustomEvent('peer:disconnected', { detail: { peer: 'q' } }))
  assert.deepEqual(peers, ['q'])
})
