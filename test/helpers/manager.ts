import { createConnectionManager } from '../../src/index.js'
import type { ConnectionManager, ConnectionManagerOptions } from '../../src/index.js'
import { ManualClock } from '../../src/testing/index.js'

/** A `dial` for managers that must never dial: it rejects. */
export const noDial = async (): Promise<never> => { throw new Error('no dialing in this test') }

/** A manager that never dials, on `extra.clock` or else a fresh ManualClock, with `extra` options. */
export function manager (extra: Partial<ConnectionManagerOptions> = {}): { m: ConnectionManager; clock: ManualClock } {
  const clock = (extra.clock as ManualClock | undefined) ?? new ManualClock()
  return { m: createConnectionManager({ dial: noDial, ...extra, clock }), clock }
}
