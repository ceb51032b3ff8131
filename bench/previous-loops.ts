/**
 * The timed loops of the previous suite (previous.bench.ts). Each build loads an instance of this
 * module of its own (`loopsFor` there): a loop's call sites then see that build's classes only, as in a
 * process that runs one peerwarden. With one loop for both, each call site was polymorphic over the
 * two builds' managers, and what V8 inlined there depended on which build it had seen first.
 */
import type { ConnectionManager } from '../src/index.js'
import type { TestConnection } from '../src/testing/index.js'

/** Connects and disconnects `conns[i % conns.length]` for i in [from, to). */
export function churnSlice (m: ConnectionManager, conns: TestConnection[], from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const c = conns[i % conns.length]
    m.connected(c)
    m.disconnected(c)
  }
}

/** Tags `peer-(i % peers)` with 'score' for i in [from, to). */
export function tagSlice (m: ConnectionManager, peers: number, from: number, to: number): void {
  for (let i = from; i < to; i++) m.tagPeer(`peer-${i % peers}`, 'score', (i * 7919) % 100)
}

/** Hands `incoming[from..to)` to the manager. */
export function admitSlice (m: ConnectionManager, incoming: TestConnection[], from: number, to: number): void {
  for (let i = from; i < to; i++) m.connected(incoming[i])
}
