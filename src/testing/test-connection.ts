import type { Connection, PeerId } from '../manager/types.js'

let counter = 0

/** A stand-alone Connection for unit tests: records how it was closed, and lets the test set `streams`. */
export class TestConnection implements Connection {
  readonly id: string
  readonly peer: PeerId
  readonly direction: 'inbound' | 'outbound'
  readonly address?: string
  streams?: number
  closed = false
  closeReason: string | undefined

  constructor (init: { peer: PeerId; direction?: 'inbound' | 'outbound'; address?: string; streams?: number; id?: string }) {
    this.id = init.id ?? `tc${counter++}`
    this.peer = init.peer
    this.direction = init.direction ?? 'inbound'
    this.address = init.address
    this.streams = init.streams
  }

  close (reason?: string): void {
    if (this.closed) return
    this.closed = true
    this.closeReason = reason
  }
}

/** Shorthand for `new TestConnection(...)`. */
export function testConnection (peer: PeerId, init: Omit<ConstructorParameters<typeof TestConnection>[0], 'peer'> = {}): TestConnection {
  return new TestConnection({ peer, ...init })
}
