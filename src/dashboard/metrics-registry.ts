/**
 * A mesh registry's metrics (`new RegistryMetrics(registry)`): its members, the registrations its
 * `registrationBudget` refused, and the joined/left notices it sent to watchers, folded or dropped —
 * the figures of `registry.stats()`.
 *
 * The dashboard layer imports no mesh code: a registry comes in as the shape it has (`stats()`),
 * which `createRegistry()`'s `MeshRegistry` is.
 *
 * Rules:
 * - Everything is read from `stats()` at each scrape (the registry's counts since it started).
 * - One series per thing counted: what became of a notice is the `outcome` label of
 *   `registry_notices_total` (`sent`, `coalesced`, `unchanged`), each at 0 from the start; the notices
 *   sent early for the budget of remembered members are also in `outcome="sent"`.
 * - A registry of its own (prom-client's), like `ManagerMetrics`: merge it with prom-client's
 *   `Registry.merge` to serve it beside the node's.
 */
import type { Registry } from 'prom-client'
import { PeerwardenError } from '../errors.js'
import { rejectUnknownOptions } from '../manager/validate.js'
import { requireOptional } from '../optional-dependency.js'
import type { PromClient } from './metrics-node.js'

/** The figures of `registry.stats()` the metrics read (a `RegistryStats` has them all). */
export interface RegistryFigures {
  members: number
  registrationsOverBudget: number
  notices: { sent: number; coalesced: number; unchanged: number; overBudget: number; waiting: number }
}

/** What the metrics need of a mesh registry: its figures (read at each scrape). A `MeshRegistry` is one. */
export interface RegistryMetricsSource {
  /** The figures now, read at each scrape (a mesh registry's `stats()`). */
  stats: () => RegistryFigures
}

/** The options of `new RegistryMetrics(registry, options)`. */
export interface RegistryMetricsOptions {
  /** Put before every name. Default `'peerwarden_'`. */
  prefix?: string
}

/** What became of notices: the `outcome` of `registry_notices_total`. */
export const NOTICE_OUTCOMES = ['sent', 'coalesced', 'unchanged'] as const

/**
 * A mesh registry's figures in Prometheus' text format (prom-client, in a registry of its own).
 * The list, with each metric's meaning, is in docs/operations.md#metrics.
 */
export class RegistryMetrics {
  readonly registry: Registry

  constructor (source: RegistryMetricsSource, options: RegistryMetricsOptions = {}) {
    if (typeof source?.stats !== 'function') throw PeerwardenError.invalid('RegistryMetrics needs a registry with stats() (a MeshRegistry)')
    if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('registry metrics options must be an object')
    rejectUnknownOptions('registry metrics options', options, ['prefix'])
    const prefix = options.prefix ?? 'peerwarden_'
    if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) {
      throw PeerwardenError.invalid(`metrics prefix must be letters, digits, '_' or ':' (got ${JSON.stringify(prefix)})`)
    }
    const client = requireOptional<PromClient>('prom-client', 'the Prometheus metrics')
    this.registry = new client.Registry()
    const registers = [this.registry]
    const stats = (): RegistryFigures => source.stats()
    const gauge = (name: string, help: string, read: (s: RegistryFigures) => number): void => {
      // eslint-disable-next-line no-new
      new client.Gauge({ name: prefix + name, help, registers, collect () { this.set(read(stats())) } })
    }
    const counter = (name: string, help: string, read: (s: RegistryFigures) => number): void => {
      // eslint-disable-next-line no-new
      new client.Counter({ name: prefix + name, help, registers, collect () { this.reset(); this.inc(read(stats())) } })
    }
    gauge('registry_members', 'Members the registry holds now (budget: maxMembers).', (s) => s.members)
    counter('registry_registrations_over_budget_total', 'Registrations refused by registrationBudget (new registrations, or registration bytes, a minute per address range).', (s) => s.registrationsOverBudget)
    // eslint-disable-next-line no-new
    new client.Counter({
      name: prefix + 'registry_notices_total',
      help: 'Joined/left notices to watchers, by outcome: sent (broadcast), coalesced (replaced by a later state of the member before going out), unchanged (dropped: what watchers last heard).',
      labelNames: ['outcome'],
      registers,
      collect () {
        const n = stats().notices
        this.reset()
        for (const outcome of NOTICE_OUTCOMES) this.inc({ outcome }, n[outcome])
      }
    })
    counter('registry_notices_sent_early_total', 'Of registry_notices_total{outcome="sent"}, the notices sent before their interval because the registry remembered its most members (8192).', (s) => s.notices.overBudget)
    gauge('registry_notices_waiting', 'Members with a notice waiting to go out now.', (s) => s.notices.waiting)
  }

  /** The text a Prometheus scrape gets, and its content type. */
  async scrape (): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType }
  }
}
