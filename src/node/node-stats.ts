import type { ConnectionManager } from '../manager/types.js'
import type { DialBack } from './dial-back.js'
import type { Discovery } from './discovery.js'
import type { NodeDialer } from './node-dial.js'
import type { Punching } from './punch.js'
import type { RelayHub } from './relay.js'
import type { RelayClient } from './relay-client.js'
import type { RendezvousTable } from './rendezvous.js'
import type { TcpTransport } from './transport.js'
import type { NodeStats } from './types.js'

/** The node's parts whose figures `node.stats()` gathers (discovery is made once the node listens). */
export interface StatsParts {
  readonly manager: ConnectionManager
  readonly transport: TcpTransport
  readonly rendezvous: RendezvousTable | undefined
  readonly discovery: Discovery | undefined
  readonly dialer: NodeDialer
  readonly dialBack: DialBack
  readonly relays: RelayHub
  readonly relayClient: RelayClient
  readonly punching: Punching
}

/**
 * `node.stats()`: the manager's figures, the transport's budgets, then each part's own, read now
 * (see `NodeStats` for what each counts). A part that is not made yet counts 0.
 */
export function nodeStats (parts: StatsParts): NodeStats {
  const { rendezvous, discovery } = parts
  return {
    ...parts.manager.stats(),
    ...parts.transport.stats(),
    rendezvousTopics: rendezvous?.size ?? 0,
    rendezvousRegistrations: rendezvous?.registrations ?? 0,
    rendezvousBytes: rendezvous?.bytes ?? 0,
    rendezvousRefused: rendezvous?.refused ?? 0,
    dials: parts.dialer.dials,
    dialsFailed: parts.dialer.failed,
    dialsOverBudget: parts.dialer.budget.overBudget,
    pexDropped: discovery?.counts.pexDropped ?? 0,
    hintsDropped: discovery?.counts.hintsDropped ?? 0,
    unsolicitedAnswers: discovery?.counts.unsolicitedAnswers ?? 0,
    rendezvousVisits: discovery?.counts.visits ?? 0,
    rendezvousVisitsFailed: discovery?.counts.visitsFailed ?? 0,
    rendezvousVisitsServed: discovery?.counts.visitsServed ?? 0,
    rendezvousWithdrawalsAbandoned: discovery?.counts.withdrawalsAbandoned ?? 0,
    farewellsCapped: discovery?.counts.farewellsCapped ?? 0,
    topicFlipsIgnored: discovery?.counts.topicFlipsIgnored ?? 0,
    rendezvousClosedWithdrawals: discovery?.counts.rendezvousClosedWithdrawals ?? 0,
    lookupAnswersRefused: discovery?.counts.lookupAnswersRefused ?? 0,
    reachability: parts.dialBack.reachability,
    dialBacksServed: parts.dialBack.served,
    dialBacksRefused: parts.dialBack.refused,
    dialBackAnswers: { ...parts.dialBack.answers },
    relayReservations: parts.relays.reservationCount,
    relayCircuits: parts.relays.circuitCount,
    relayRefused: parts.relays.refused,
    relayCut: parts.relays.cut,
    relayBytes: parts.relays.bytes,
    relaysHeld: parts.relayClient.reservationCount,
    relayedDials: parts.relayClient.dialled,
    relayedAccepted: parts.relayClient.accepted,
    punches: parts.punching.started,
    punchesDirect: parts.punching.succeeded
  }
}
