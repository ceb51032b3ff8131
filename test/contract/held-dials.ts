import { createConnectionManager } from '../../src/index.js'
import type { ConnectionManager, ConnectionManagerOptions } from '../../src/index.js'
import { ManualClock, TestConnection } from '../../src/testing/index.js'

/** A dial the test holds open: `land()` completes it as a transport would (reports the connection, then resolves). */
export interface HeldDial {
  readonly address: string
  /** Completes the dial with a connection to `peer` (default: the address's name after `mem://`). */
  land(peer?: string): TestConnection
}

/** A manager whose every dial waits for the test, on a ManualClock, with `lowWater: 2, highWater: 4` unless `extra` says otherwise. */
export function heldDials (extra: Partial<ConnectionManagerOptions> = {}): { m: ConnectionManager; clock: ManualClock; held: HeldDial[]; dialled: string[]; landing: (address: string, peer?: string) => TestConnection | undefined } {
  const clock = new ManualClock(0)
  const held: HeldDial[] = []
  const dialled: string[] = []
  const m: ConnectionManager = createConnectionManager({
    localPeer: 'me',
    clock,
    random: () => 0.5,
    lowWater: 2,
    highWater: 4,
    ...extra,
    dial: async (address, { peer, signal }) => await new Promise((resolve, reject) => {
      dialled.push(address)
      signal.addEventListener('abort', () => { reject(new Error('aborted')) })
      held.push({
        address,
        land: (id = peer ?? address.replace('mem://', '')) => {
          const conn = new TestConnection({ peer: id, direction: 'outbound', address })
          m.connected(conn)
          resolve(conn)
          return conn
        }
      })
    })
  })
  /** Lands the oldest held dial to `address` (and forgets it), if one is held. */
  const landing = (address: string, peer?: string): TestConnection | undefined => {
    const i = held.findIndex((d) => d.address === address)
    if (i < 0) return undefined
    const [dial] = held.splice(i, 1)
    return dial.land(peer)
  }
  return { m, clock, held, dialled, landing }
}

/** An inbound connection from `peer` at `mem://<peer>` (or `address`). */
export function inbound (peer: string, address = `mem://${peer}`): TestConnection {
  return new TestConnection({ peer, direction: 'inbound', address })
}
