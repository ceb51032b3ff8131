import type { PeerInput, PeerId } from '../manager/types.js'
import { normaliseHints } from './address.js'
import { MAX_PEERS_PER_MESSAGE } from './control-wire.js'

/** What a referral (a lookup answer or a peer-exchange message) teaches: hints for the manager, and the ids found. */
export interface Referral {
  /** The peers as hints for the manager, shuffled. */
  inputs: PeerInput[]
  /** The ids referred with at least one usable address, in the order they came. */
  ids: PeerId[]
}

/**
 * Peers a third party told us about for the topic `key`: hints for the manager (their addresses
 * never displace what a handshake proved), normalised to one spelling per host and port, at most
 * `MAX_PEERS_PER_MESSAGE`, never ourselves nor a peer without a usable address. `topicsOf` gives the
 * topics the manager knows a peer serves (kept, `key` added).
 */
export function referral (
  key: string,
  peers: ReadonlyArray<{ id: string; addresses: readonly string[] }>,
  localId: PeerId,
  topicsOf: (peer: PeerId) => readonly string[] | undefined,
  random: () => number
): Referral {
  const inputs: PeerInput[] = []
  const ids: PeerId[] = []
  for (const p of peers.slice(0, MAX_PEERS_PER_MESSAGE)) {
    if (p.id === localId) continue
    const addresses = normaliseHints(p.addresses)
    if (addresses.length === 0) continue
    ids.push(p.id)
    const topics = new Set(topicsOf(p.id) ?? [])
    topics.add(key)
    inputs.push({ id: p.id, addresses, topics: [...topics], hint: true })
  }
  // Every node asks the same rendezvous points and gets the same list in the same order; handed to
  // the manager as is, every newcomer would dial the same first few peers (equal candidates are
  // dialled in the order they were learnt) and be refused there. Each node shuffles its own copy.
  for (let i = inputs.length - 1; i > 0; i--) {
    const k = Math.floor(random() * (i + 1))
    const t = inputs[i]!
    inputs[i] = inputs[k]!
    inputs[k] = t
  }
  return { inputs, ids }
}
