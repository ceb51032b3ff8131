import { systemClock } from '../clock.js'
import { addressRange } from '../manager/address-range.js'
import type { Clock, ConnectionManager, PeerId } from '../manager/types.js'
import { normaliseHints } from './address.js'
import type { NodeConnection } from './connection.js'
import { MAX_PEERS_PER_MESSAGE } from './control-wire.js'
import type { RendezvousTable } from './rendezvous.js'
import { peerSource } from './peer-source.js'
import { AnswerBudget, answerBytes, answerSource } from './topic-answers.js'
import { FLIPS_IGNORED_TO_CLOSE, TopicFlips } from './topic-flips.js'

export interface DirectoryHost {
  readonly localId: PeerId
  readonly manager: ConnectionManager
  /** Our own rendezvous service, when enabled. */
  readonly rendezvous: RendezvousTable | undefined
  addresses(): string[]
  connections(): Iterable<NodeConnection>
  /** Whether we announce `key` ourselves (then we hand ourselves out for it). */
  announces(key: string): boolean
  /** The node's clock, for the budgets below. Default: the rendezvous table's, else the system clock. */
  readonly clock?: Clock
}

/**
 * Our close reasons that say the peer is dead or hostile (its keep-alives stopped, it broke the
 * protocol or a budget, it is denied): its registrations go with the connection (see `disconnected`).
 */
const GONE_ON_CLOSE: ReadonlySet<string> = new Set(['timeout', 'protocol', 'over-budget', 'denied'])

/** A peer as a directory hands it out. */
export interface Listed { id: string; addresses: string[] }

/**
 * What a node tells others about who is in a topic: the serving side of discovery.
 *
 * Rules:
 * - Registrations come from 'announce' messages, from visits (the visitor's hello), and from the
 *   hello of a newcomer we refuse for lack of room (it would have announced itself had we kept it);
 *   a peer's hello also withdraws its registrations for topics it no longer joins.
 * - A registration outlives its connection for its ttl (a peer that lets its bootstrap connection
 *   go is still handed out there, as libp2p rendezvous registrations and Hyperswarm's DHT records
 *   outlive whoever stored them), but not the peer: when a connection we kept dies — the peer went
 *   without a word (a crash, a reset, a socket closed without our close message) or we closed it for
 *   its death or its hostility ('timeout', 'protocol', 'over-budget', 'denied') — and the peer has no
 *   other connection to us, every registration of that peer is withdrawn at once. A peer that said
 *   why it leaves is alive and withdraws what it left itself (a leave, `close()`, unannounce).
 * - What we hand out for a topic (`known`) is live only: our registrations (which expire, and are
 *   withdrawn by unannounce, leave, a ban, and the close of the connection they came over), the connected peers that declared the topic and
 *   announce (never lookup-only ones on their behalf), and ourselves when we announce it; at most
 *   `MAX_PEERS_PER_MESSAGE`, never the asker itself, never a peer we banned (nor do we register one).
 * - Budgets: topic join/leave flips per identity and per source (`TopicFlips`: a burst of 8, then one
 *   per 4 s, twice that per source; a flip past it is ignored and counted in `refused`, 64 of them on
 *   one connection close it 'protocol'),
 *   and full answers per asker and per source (`AnswerBudget`: 512 a minute per identity, 16 MiB a
 *   minute per IP or public range, then empty answers, counted in `answersRefused`).
 */
export class TopicDirectory {
  /** Announcements the rendezvous table refused for a budget, and joins and leaves ignored for the flip budget (`flipsIgnored`). */
  refused = 0
  /** Registrations dropped because the connection they came over closed (`disconnected`). */
  withdrawnOnClose = 0
  /** Visits other peers paid us. */
  visitsServed = 0
  private readonly flips: TopicFlips
  private readonly answers: AnswerBudget

  constructor (private readonly host: DirectoryHost) {
    const now = host.clock !== undefined ? () => host.clock!.now() : host.rendezvous?.now ?? (() => systemClock.now())
    this.flips = new TopicFlips(now)
    this.answers = new AnswerBudget(now)
  }

  /** Announcements and withdrawals ignored for the flip budget (also counted in `refused`). */
  get flipsIgnored (): number { return this.flips.ignored }

  /** Lookup answers (and referrals) given empty for the per-asker budget. */
  get answersRefused (): number { return this.answers.refused }

  /**
   * A peer we banned (the manager's 'peer:priority' event, wired in node.ts): its registrations leave
   * our table at once, so that we stop handing it out before they expire.
   */
  banned (peer: PeerId): void {
    this.host.rendezvous?.withdraw(peer, [])
  }

  /**
   * A connection the manager kept has closed: when it died (see the rules: no word from the peer, and
   * no close of ours but `GONE_ON_CLOSE`) and the peer has no other connection (a duplicate that lost
   * the tie-break is no death), every registration of the peer is withdrawn.
   */
  disconnected (conn: NodeConnection): void {
    if (this.host.rendezvous === undefined || this.host.manager.getPeer(conn.peer)?.connected === true) return
    if (conn.remoteCloseReason !== undefined || (conn.closeReason !== undefined && !GONE_ON_CLOSE.has(conn.closeReason))) return
    const before = this.host.rendezvous.registrations
    this.host.rendezvous.withdraw(conn.peer, [])
    this.withdrawnOnClose += before - this.host.rendezvous.registrations
  }

  /** A remote's hello (before its connection is accepted or refused): drops its registrations for topics it no longer joins. */
  hello (conn: NodeConnection): void {
    this.host.rendezvous?.withdraw(conn.peer, conn.remoteTopics)
  }

  /**
   * A visit (rendezvous-visits.ts): the visitor's registrations become what its hello says —
   * registered for `ttl` when it announces its topics, the others withdrawn. The caller closes it.
   */
  visited (conn: NodeConnection, ttl: number): void {
    this.visitsServed++
    if (this.host.rendezvous === undefined) return
    this.host.rendezvous.withdraw(conn.peer, conn.remoteTopics)
    if (conn.remoteAnnounces) this.registerHello(conn, ttl)
  }

  /**
   * A newcomer we turn away for lack of room is exactly the peer that has room: we register it for
   * the topics its hello announces, so the next lookups (and referrals to other newcomers) find it.
   */
  turnedAway (conn: NodeConnection, ttl: number): void {
    if (conn.remoteAnnounces) this.registerHello(conn, ttl)
  }

  announce (conn: NodeConnection, topic: string, addresses: readonly string[], ttl: number): void {
    if (this.host.rendezvous === undefined || !this.mayFlip(conn, topic, true)) return
    const given = normaliseHints(addresses)
    this.register(conn, topic, given.length > 0 ? given : normaliseHints(conn.remoteListen), ttl)
  }

  unannounce (conn: NodeConnection, topic: string): void {
    if (this.host.rendezvous === undefined || !this.mayFlip(conn, topic, false)) return
    this.host.rendezvous.unannounce(topic, conn.peer)
  }

  /**
   * The peers we know for `key`, live ones only (see the rules), for `except` (the asker, left out;
   * ourselves for our own questions) connected from `from` (its connection's address: the source
   * budget). Past the asker's or its source's answer budget: none.
   */
  known (key: string, except: PeerId, from?: string): Listed[] {
    const asked = except !== this.host.localId
    if (asked && !this.answers.take(except)) return []
    const out = new Map<string, string[]>()
    if (this.host.announces(key)) out.set(this.host.localId, this.host.addresses())
    for (const r of this.host.rendezvous?.lookup(key, MAX_PEERS_PER_MESSAGE) ?? []) {
      // A ban withdraws the peer's registrations (`banned`); this check keeps the rule whatever the order of events.
      if (this.isBanned(r.id)) this.banned(r.id)
      else out.set(r.id, r.addresses)
    }
    for (const c of this.host.connections()) {
      if (out.size >= MAX_PEERS_PER_MESSAGE) break
      if (!c.remoteAnnounces) continue // a lookup-only peer is not handed out on its behalf
      const p = this.host.manager.getPeer(c.peer)
      if (p?.id !== undefined && p.priority !== 'banned' && p.topics.includes(key) && p.addresses.length > 0 && !out.has(p.id)) out.set(p.id, p.addresses)
    }
    out.delete(except)
    const listed = [...out].slice(0, MAX_PEERS_PER_MESSAGE).map(([id, addresses]) => ({ id, addresses }))
    if (!asked || listed.length === 0) return listed
    return this.answers.takeBytes(from === undefined ? undefined : answerSource(from), answerBytes(listed)) ? listed : []
  }

  /** Whether a join (`announced`) or leave of `topic` on `conn` may take effect (`TopicFlips`); closes a connection grossly over. */
  private mayFlip (conn: NodeConnection, topic: string, announced: boolean): boolean {
    const verdict = this.flips.take(conn, topic, announced, conn.peer, peerSource(conn.address))
    if (verdict === 'ok') return true
    this.refused++
    // Also in the node's stats ('rendezvousRefused': announcements refused for a budget).
    if (this.host.rendezvous !== undefined) this.host.rendezvous.refused++
    if (verdict === 'close') conn.protocolError(`topic flips: more than ${FLIPS_IGNORED_TO_CLOSE} joins and leaves ignored for the budget`)
    return false
  }

  private isBanned (peer: PeerId): boolean {
    return this.host.manager.getPeer(peer)?.priority === 'banned'
  }

  private registerHello (conn: NodeConnection, ttl: number): void {
    const listen = normaliseHints(conn.remoteListen)
    if (listen.length === 0 || this.host.rendezvous === undefined) return
    for (const key of conn.remoteTopics) this.register(conn, key, listen, ttl)
  }

  /** A registration of `conn`'s peer at our rendezvous table (budgeted by its public address range too), counted when a budget refuses it. */
  private register (conn: NodeConnection, key: string, addresses: string[], ttl: number): void {
    if (addresses.length === 0 || this.isBanned(conn.peer)) return
    const range = typeof conn.address === 'string' ? addressRange(conn.address, true) : undefined
    if (this.host.rendezvous?.announce(key, conn.peer, addresses, ttl, range) === false) this.refused++
  }
}
