import { AddressStats, type AddressStat } from './address-stats.js'
import { DialCancel, type CallOff, type DialAttempt } from './dial-addresses.js'
import type { PeerRecord } from './peer-record.js'
import type { PeerId } from './types.js'

/**
 * One dial of a record: the attempt `dialAddresses` makes (the peer's id and addresses, in order,
 * as they were when it started) and the switch that calls it off — one object per dial.
 */
export class RecordDial extends DialCancel implements DialAttempt {
  readonly peer: PeerId | undefined
  /** When the dial started (the scheduler's clock). */
  startedAt = 0

  constructor (readonly record: PeerRecord, readonly addresses: readonly string[]) {
    super()
    this.peer = record.id
  }

  get signal (): CallOff { return this }
}

/** The record's stat of the address, made on first use. */
export function addressStats (record: PeerRecord, address: string): AddressStat {
  return (record.addressStats ??= new AddressStats()).of(address)
}

/**
 * `orderAddresses` for a dial, which only reads them: the record's own list when there is nothing
 * to order (no stats, or one address). A record's list is never changed in place (a change replaces
 * it; books share one list per address), so the dial keeps the list it started with.
 */
export function dialOrder (record: PeerRecord): readonly string[] {
  return record.addressStats === undefined || record.addresses.length <= 1 ? record.addresses : orderAddresses(record)
}

/** The record's addresses, the one that worked most recently first, failing ones last. */
export function orderAddresses (record: PeerRecord): string[] {
  const stats = record.addressStats
  if (stats === undefined) return record.addresses.slice()
  const key = (a: string): AddressStat => stats.get(a) ?? NO_STAT
  return record.addresses.slice().sort((a, b) => {
    const x = key(a)
    const y = key(b)
    if (x.fails !== y.fails) return x.fails - y.fails
    return y.ok - x.ok
  })
}
/** The stat of an address never dialled (read only). */
const NO_STAT: Readonly<AddressStat> = { ok: -Infinity, fails: 0 }
