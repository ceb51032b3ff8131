/**
 * A node's reachability metrics (part of `nodeMetrics`): the dial-back check's verdict, the
 * dial-backs served and asked for, the relay (as one, and through ones) and hole punches — the
 * figures of `node.stats()` about being reached through NAT.
 *
 * Rules:
 * - Read from `stats()` at each scrape, like the other node figures; each is optional in
 *   `ReachFigures` and 0 when a source does not report it.
 * - An outcome, an answer, a state or a direction is a label, each value at 0 from the start:
 *   `reachability{state}` is 1 for the verdict now and 0 for the two others.
 */
import type { Registry } from 'prom-client'

/** prom-client, loaded on first use (an optional peer dependency). */
type PromClient = typeof import('prom-client')

/** The reachability figures of `node.stats()` the metrics read (a `NodeStats` has them all). */
export interface ReachFigures {
  /** The dial-back check's verdict now. */
  reachability?: 'public' | 'private' | 'unknown'
  dialBacksServed?: number
  dialBacksRefused?: number
  dialBackAnswers?: { ok: number; failed: number; refused: number }
  relayReservations?: number
  relayCircuits?: number
  relayRefused?: number
  relayCut?: number
  relayBytes?: number
  relaysHeld?: number
  relayedDials?: number
  relayedAccepted?: number
  punches?: number
  punchesDirect?: number
}

/** The values of `reachability{state}`. */
export const REACHABILITY_STATES = ['public', 'private', 'unknown'] as const

/** Registers the reachability metrics of `stats()` in `registers`. */
export function reachMetrics (client: PromClient, stats: () => ReachFigures, at: { prefix: string; registers: Registry[] }): void {
  const { prefix, registers } = at
  const family = (type: 'Gauge' | 'Counter', name: string, help: string, label: string, read: (s: ReachFigures) => Record<string, number>): void => {
    // eslint-disable-next-line no-new
    new client[type]({
      name: prefix + name,
      help,
      labelNames: [label],
      registers,
      collect () {
        const values = read(stats())
        this.reset()
        for (const [value, n] of Object.entries(values)) {
          if (type === 'Gauge') (this as unknown as InstanceType<PromClient['Gauge']>).set({ [label]: value }, n)
          else (this as unknown as InstanceType<PromClient['Counter']>).inc({ [label]: value }, n)
        }
      }
    })
  }
  const single = (type: 'Gauge' | 'Counter', name: string, help: string, read: (s: ReachFigures) => number | undefined): void => {
    // eslint-disable-next-line no-new
    new client[type]({
      name: prefix + name,
      help,
      registers,
      collect () {
        const n = read(stats()) ?? 0
        if (type === 'Gauge') (this as unknown as InstanceType<PromClient['Gauge']>).set(n)
        else { this.reset(); (this as unknown as InstanceType<PromClient['Counter']>).inc(n) }
      }
    })
  }

  family('Gauge', 'reachability', 'The dial-back check\'s verdict now: 1 for its state (public, private, unknown), 0 for the others.', 'state', (s) =>
    Object.fromEntries(REACHABILITY_STATES.map((state) => [state, (s.reachability ?? 'unknown') === state ? 1 : 0])))
  family('Counter', 'dial_backs_total', 'Dial-back requests peers made to us, by outcome: served (we dialled them back), refused (their rate, or a relayed connection).', 'outcome', (s) =>
    ({ served: s.dialBacksServed ?? 0, refused: s.dialBacksRefused ?? 0 }))
  family('Counter', 'dial_back_answers_total', 'Answers to our dial-back requests, by answer: ok (reached us), failed (could not), refused (would not try).', 'answer', (s) =>
    ({ ok: s.dialBackAnswers?.ok ?? 0, failed: s.dialBackAnswers?.failed ?? 0, refused: s.dialBackAnswers?.refused ?? 0 }))
  single('Gauge', 'relay_reservations', 'As a relay: reservations held now (budget: relay.maxReservations).', (s) => s.relayReservations)
  single('Gauge', 'relay_circuits', 'As a relay: circuits forwarded now (budget: relay.maxCircuits).', (s) => s.relayCircuits)
  single('Counter', 'relay_refused_total', 'As a relay: reservations and circuits refused for a budget.', (s) => s.relayRefused)
  single('Counter', 'relay_cut_total', 'As a relay: circuits cut for their duration or bytes budget.', (s) => s.relayCut)
  single('Counter', 'relay_bytes_total', 'As a relay: bytes forwarded (ciphertext).', (s) => s.relayBytes)
  single('Gauge', 'relays_held', 'As a private node: relays we hold a reservation with now.', (s) => s.relaysHeld)
  family('Counter', 'relayed_connections_total', 'Connections through relays, by direction: outbound (we dialled through a relay), inbound (accepted through one).', 'direction', (s) =>
    ({ outbound: s.relayedDials ?? 0, inbound: s.relayedAccepted ?? 0 }))
  single('Counter', 'punches_total', 'Hole punches begun over relayed connections.', (s) => s.punches)
  single('Counter', 'punches_direct_total', 'Of punches_total, those that gave a direct connection.', (s) => s.punchesDirect)
}
