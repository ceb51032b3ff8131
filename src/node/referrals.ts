import type { PeerInfo, PeerInput, PeerId } from '../manager/types.js'
import { normaliseHints } from './address.js'
import { MAX_PEERS_PER_MESSAGE } from './control-wire.js'
import { parseRelayedAddress } from './relay-client.js'

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
 * topics the manager knows a peer serves (kept, `key` added). `admit`, when given, keeps the addresses
 * of a peer the intake budgets allow (`HintBudget.admit`); a peer left with none is dropped.
 */
export function referral (
  key: string,
  peers: ReadonlyArray<{ id: string; addresses: readonly string[] }>,
  localId: PeerId,
  topicsOf: (peer: PeerId) => readonly string[] | undefined,
  random: () => number,
  admit?: (peer: PeerId, addresses: string[]) => string[]
): Referral {
  const inputs: PeerInput[] = []
  const ids: PeerId[] = []
  for (const p of peers.slice(0, MAX_PEERS_PER_MESSAGE)) {
    if (p.id === localId) continue
    const normal = normaliseHints(p.addresses)
    const addresses = admit === undefined || normal.length === 0 ? normal : admit(p.id, normal)
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

/**
 * The peers of `inputs` worth a dial now although the manager backs off from them: known, not
 * connected, with no relayed address until this referral brought one. Such a peer found itself
 * private and holds a reservation; a dial to its direct (NATed) address hung until the dial
 * timeout and earned the backoff. Once per peer: the record keeps the relayed address.
 */
export function newlyRelayed (inputs: readonly PeerInput[], getPeer: (peer: PeerId) => PeerInfo | undefined): PeerId[] {
  const out: PeerId[] = []
  for (const p of inputs) {
    const known = p.id === undefined ? undefined : getPeer(p.id)
    if (known?.id !== undefined && !known.connected && !known.addresses.some(isRelayedAddress) && (p.addresses ?? []).some(isRelayedAddress)) out.push(known.id)
  }
  return out
}

/** A relayed address (`<relay's address>/relay/<relay's peer id>`). */
export function isRelayedAddress (address: string): boolean {
  return parseRelayedAddress(address) !== undefined
}
