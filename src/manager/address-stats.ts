/** What the dials of one address of a peer came to: the last success (ms, -Infinity: none) and the failures since. */
export interface AddressStat {
  ok: number
  fails: number
}

/**
 * The dial outcomes of a peer's addresses (`PeerRecord.addressStats`), which order the addresses
 * of its next dial (`orderAddresses`, record-dial.ts).
 *
 * Rules:
 * - `get(address)` answers what was recorded for the address, undefined when nothing was;
 *   `of(address)` answers the same, recording a fresh `{ ok: -Infinity, fails: 0 }` first when
 *   nothing was. The caller writes `ok` and `fails` of the stat it got.
 * - The first address recorded is held in two fields, the others in a `Map` made for the second:
 *   nearly every peer has one address, and a `Map` with its table costs ~260 bytes on each of the
 *   hundreds of thousands of records a large simulation dials.
 */
export class AddressStats {
  private firstAddress: string | undefined = undefined
  private first: AddressStat | undefined = undefined
  private others: Map<string, AddressStat> | undefined = undefined

  /** Stats of these addresses (the first of a repeated address wins). */
  static from (entries: Iterable<readonly [string, AddressStat]>): AddressStats {
    const stats = new AddressStats()
    for (const [address, stat] of entries) if (stats.get(address) === undefined) stats.put(address, stat)
    return stats
  }

  get (address: string): AddressStat | undefined {
    return address === this.firstAddress ? this.first : this.others?.get(address)
  }

  /** The stat of `address`, recorded fresh when there was none. */
  of (address: string): AddressStat {
    const found = this.get(address)
    if (found !== undefined) return found
    const stat = { ok: -Infinity, fails: 0 }
    this.put(address, stat)
    return stat
  }

  /** Every address with a stat, the first recorded first. */
  * entries (): Generator<[string, AddressStat]> {
    if (this.firstAddress !== undefined) yield [this.firstAddress, this.first!]
    if (this.others !== undefined) yield* this.others
  }

  /** `into`'s stats, with `from`'s for the addresses `into` has none for (a merge of two records of one peer). */
  static merged (from: AddressStats, into: AddressStats | undefined): AddressStats {
    const out = AddressStats.from(into?.entries() ?? [])
    for (const [address, stat] of from.entries()) if (out.get(address) === undefined) out.put(address, stat)
    return out
  }

  /** Records `stat` for an address that has none. */
  private put (address: string, stat: AddressStat): void {
    if (this.firstAddress === undefined) {
      this.firstAddress = address
      this.first = stat
    } else (this.others ??= new Map()).set(address, stat)
  }
}
