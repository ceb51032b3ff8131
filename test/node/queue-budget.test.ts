import assert from 'node:assert/strict'
import { test } from 'node:test'
import { QueueBudget, type QueueHolder } from '../../src/node/queue-budget.js'

const MiB = 1024 * 1024

/** A holder whose address can change or go (a socket that closed reports none), counting how often it is asked. */
function holder (host: string | undefined): QueueHolder & { host: string | undefined; asked: number; ended: boolean } {
  return {
    host,
    asked: 0,
    ended: false,
    get remoteHost () { this.asked++; return this.host },
    overQueueBudget () { this.ended = true }
  }
}

test('the queue budget names a holder\'s range once, however often it starts holding again (a bulk sender after every drain)', () => {
  const budget = new QueueBudget(256 * MiB)
  const sender = holder('192.0.2.1')
  for (let i = 0; i < 1000; i++) {
    budget.count(sender, 'write', 300 * 1024) // a write found the socket's buffer full
    budget.count(sender, 'write', 0) // 'drain'
  }
  assert.equal(sender.asked, 1)
  assert.equal(budget.holding, 0)
  // A holder forgotten (its connection closed) is named afresh if it ever holds again.
  budget.count(sender, 'read', 1)
  budget.forget(sender)
  budget.count(sender, 'read', 1)
  assert.equal(sender.asked, 2)
})

test('a holder keeps the range it was first counted in across drains, so the budget closes the right connection: attackers whose address is gone still count in their /24, not the honest reader', () => {
  const budget = new QueueBudget(6 * MiB)
  const honest = holder('192.0.2.1')
  budget.count(honest, 'read', 3 * MiB)
  const attackers = [holder('198.51.100.1'), holder('198.51.100.2')]
  for (const a of attackers) {
    budget.count(a, 'write', MiB)
    budget.count(a, 'write', 0)
    a.host = undefined // its socket closed: node:net reports no remote address any more
    budget.count(a, 'write', 2 * MiB)
  }
  // 7 MiB over a 6 MiB budget: 198.51.100/24 holds 4 MiB, more than the honest reader's 3 MiB range.
  budget.enforce()
  assert.equal(honest.ended, false)
  assert.deepEqual(attackers.map((a) => a.ended), [false, true]) // the latest of the tied largest holders
  assert.equal(budget.holding, 5 * MiB)
  assert.equal(budget.overBudgetCloses, 1)
})

test('a holder counted again after the budget cleared starts from nothing', () => {
  const budget = new QueueBudget(MiB)
  const a = holder('192.0.2.1')
  budget.count(a, 'read', 100)
  budget.count(a, 'write', 50)
  budget.clear()
  assert.equal(budget.holding, 0)
  budget.count(a, 'write', 10)
  assert.equal(budget.holding, 10)
  budget.count(a, 'write', 0)
  assert.equal(budget.holding, 0)
})
