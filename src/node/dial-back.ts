import { randomBytes } from 'node:crypto'
import { addressRange } from '../manager/address-range.js'
import type { Clock, PeerId } from '../manager/types.js'
import * as check from '../manager/validate.js'
import { observerKey } from './advertised.js'
import type { NodeConnection } from './connection.js'
import type { ControlMessage } from './control-wire.js'
import { formatTcpAddress } from './transport.js'
import type { DialBackLimits, Reachability } from './types.js'
import { canonicalIp } from '../manager/canonical-ip.js'

export type { DialBackLimits }

/** Answers from distinct observers (see `observerKey`) that decide `public`, or (all failed) `private`. */
export const DIAL_BACK_CONFIRMATIONS = 3
/** Requests of ours awaiting an answer at once (a budget). */
const MAX_PENDING = 8
/** Answers remembered (one per observer, the newest). */
const MAX_RESULTS = 16
/** Peers (and observers) whose requests we remember for the per-peer (per-observer) rate. */
const MAX_ASKERS = 256
/**
 * Requests served per observer (an IP, an IPv6 /48: `observerKey`) per `perPeerInterval`: many
 * identities, or many connections, from one host get no more dial-backs than a few peers would.
 */
export const DIAL_BACKS_PER_OBSERVER = 4
/**
 * How long an 'ok' answer waits for its probe (the handshake that echoes our nonce) to reach us: the
 * answer may overtake the probe's last handshake message. Past it the answer counts as failed.
 */
export const PROBE_GRACE = 2_000

/**
 * How long a failure counts (ms; `resultTtl` when shorter): a failure cannot be proven (a peer may
 * answer 'failed' without trying), so failures alone hold a `private` verdict for minutes, not the
 * whole `resultTtl`.
 */
export const FAILURE_TTL = 2 * 60_000

export const DIAL_BACK_DEFAULTS: DialBackLimits = { probeTimeout: 5_000, perPeerInterval: 60_000, perMinute: 30, resultTtl: 10 * 60_000 }

/** What the dial-back check needs of the node. */
export interface DialBackHost {
  readonly clock: Clock
  /** The ports we listen on (the first is the one asked about). */
  ports(): number[]
  /** A probe: a handshake with `peer` at `address` whose hello echoes `nonce`, and that closes at once; rejects when it could not be made. */
  probe(address: string, peer: PeerId, signal: AbortSignal, nonce?: string): Promise<void>
  /** The remote IP of a connection's socket; undefined for a relayed one. */
  remoteIp(conn: NodeConnection): string | undefined
  /** The verdict changed. */
  changed(reachability: Reachability): void
}

/** A request of ours: whom, the nonce its probe must echo, whether the probe came, whether the peer claimed success. */
interface Pending { peer: PeerId; observer: string; public: boolean; sent: number; nonce: string; probed: boolean; claimed: unknown }

/**
 * The dial-back check (AutoNAT v1-like): are we reachable at the port we listen on, from outside?
 *
 * Rules:
 * - Client: on a new connection (not a relayed one, not a peer on our own host) while the verdict
 *   is `unknown` or fewer than `DIAL_BACK_CONFIRMATIONS` fresh answers are held, we ask the peer to
 *   dial back our listen port ('dialback', a port and a fresh random nonce). At most `MAX_PENDING`
 *   requests await an answer; one answer per observer counts, and `decideReachability` gives the
 *   verdict. Answers expire after `resultTtl`, and peers are asked again.
 * - A success is proven, not claimed: it counts only once a probe from the peer we asked reached our
 *   listener echoing the request's nonce (`probed`); an 'ok' whose probe has not come within
 *   `PROBE_GRACE` counts as failed (`unproven`). A probe that came counts as reached whatever the
 *   answer says.
 * - Server: the dial goes to the IP we see the asker at, never to an address it names (no
 *   amplification towards a third party), and only with a handshake that must reach the asker's own
 *   key, echoing the asker's nonce. One request per peer and `DIAL_BACKS_PER_OBSERVER` per observer
 *   (`observerKey`: an IP, an IPv6 /48) per `perPeerInterval`, and `perMinute` in all; the others,
 *   and requests over a relayed connection, are answered 'refused' (which counts for nothing).
 * - An answer we did not ask for, or from another peer than the one asked, is ignored (counted).
 * - Lies of failure: a failure cannot be proven, a success can. Answers count once per observer
 *   (a public IPv4 /24, an IPv6 /48: three identities in one range are one failure); failures count
 *   for `FAILURE_TTL` (2 min) only; and one proven success from a public observer, held, keeps the
 *   verdict from `private` (it is `unknown` until enough observers decide). While the verdict is not `public` we go on asking new
 *   observers (one each, `MAX_RESULTS` held at most), so that a success can come.
 */
export class DialBack {
  reachability: Reachability = 'unknown'
  /** Dial-backs we served, and refused for a rate. */
  served = 0
  refused = 0
  /** Answers nobody asked for. */
  unsolicited = 0
  /** 'ok' answers whose probe never reached us (counted as failed). */
  unproven = 0
  /** Answers to our requests: reached, not reached, refused. */
  readonly answers = { ok: 0, failed: 0, refused: 0 }
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly results = new Map<string, { ok: boolean; at: number; public: boolean }>()
  private readonly askers = new Map<PeerId, number>()
  private readonly observers = new Map<string, { start: number; count: number }>()
  private minute = { start: 0, count: 0 }
  private readonly limits: DialBackLimits
  private readonly probes = new Set<AbortController>()

  /** Whether we ask peers (we always answer them). */
  enabled = true

  constructor (private readonly host: DialBackHost, limits: Partial<DialBackLimits> = {}) {
    check.rejectUnknownOptions('dialBack', limits, Object.keys(DIAL_BACK_DEFAULTS))
    this.limits = { ...DIAL_BACK_DEFAULTS, ...limits }
    for (const [name, value] of Object.entries(this.limits)) check.int(`dialBack.${name}`, value, 1)
  }

  /** A connection the node keeps: maybe ask it to dial us back. */
  connected (conn: NodeConnection): void {
    if (!this.enabled) return
    const now = this.host.clock.now()
    this.expire(now)
    const remoteIp = this.host.remoteIp(conn)
    const observer = observerKey(remoteIp, conn.peer)
    const port = this.host.ports()[0]
    if (observer === undefined || port === undefined || port === 0) return
    // A peer on our own host (it sees us at its own IP) says nothing about the outside world.
    if (!observer.startsWith('peer:') && conn.observedByRemote !== undefined && canonicalIp(conn.observedByRemote) === remoteIp) return
    if (this.results.has(observer) || this.pending.size >= MAX_PENDING) return
    if (this.results.size >= DIAL_BACK_CONFIRMATIONS && this.reachability === 'public') return
    for (const p of this.pending.values()) if (p.observer === observer) return
    const id = this.nextId++
    const nonce = randomBytes(16).toString('hex')
    // A success from a public address proves the outside reaches us (not merely our own network).
    const isPublic = remoteIp !== undefined && addressRange(remoteIp, true) !== undefined
    if (conn.post({ t: 'dialback', id, port, nonce })) this.pending.set(id, { peer: conn.peer, observer, public: isPublic, sent: now, nonce, probed: false, claimed: undefined })
  }

  /** A 'dialback' or 'dialback-result' message. Never throws. */
  message (conn: NodeConnection, msg: ControlMessage): void {
    if (msg.t === 'dialback') this.serve(conn, msg.id, msg.port, msg.nonce)
    else if (msg.t === 'dialback-result') this.answer(conn, msg.id, msg.result)
  }

  /**
   * A probe reached our listener (its handshake completed): `peer` proved who it is, `nonce` is what
   * its hello echoed. Proves the request it answers, if any.
   */
  probed (peer: PeerId, nonce: string | undefined): void {
    if (nonce === undefined) return
    for (const [id, p] of this.pending) {
      if (p.nonce !== nonce || p.peer !== peer) continue
      p.probed = true
      if (p.claimed !== undefined) this.settle(id, p, 'ok')
      return
    }
  }

  close (): void {
    for (const c of this.probes) c.abort()
    this.probes.clear()
    for (const p of this.pending.values()) this.host.clock.clearTimeout(p.claimed)
  }

  private answer (conn: NodeConnection, id: number, result: 'ok' | 'failed' | 'refused'): void {
    const p = this.pending.get(id)
    if (p === undefined || p.peer !== conn.peer || p.claimed !== undefined) { this.unsolicited++; return }
    if (result === 'ok' && !p.probed) {
      // Claimed, not yet proven: the probe may still be on its way.
      p.claimed = this.host.clock.setTimeout(() => { this.unproven++; this.settle(id, p, 'failed') }, PROBE_GRACE)
      return
    }
    this.settle(id, p, p.probed ? 'ok' : result)
  }

  private settle (id: number, p: Pending, result: 'ok' | 'failed' | 'refused'): void {
    if (this.pending.get(id) !== p) return
    this.pending.delete(id)
    this.host.clock.clearTimeout(p.claimed)
    this.answers[result]++
    if (result === 'refused') return
    this.results.delete(p.observer)
    this.results.set(p.observer, { ok: result === 'ok', at: this.host.clock.now(), public: p.public })
    if (this.results.size > MAX_RESULTS) this.results.delete(this.results.keys().next().value!)
    this.decide()
  }

  private decide (): void {
    let ok = 0
    let failed = 0
    let proven = false
    for (const r of this.results.values()) {
      if (!r.ok) { failed++; continue }
      ok++
      if (r.public) proven = true
    }
    const next: Reachability = decideReachability(ok, failed, this.reachability, proven)
    if (next === this.reachability) return
    this.reachability = next
    this.host.changed(next)
  }

  private expire (now: number): void {
    for (const [id, p] of this.pending) {
      if (now - p.sent > 2 * this.limits.probeTimeout + 10_000 + PROBE_GRACE) { this.host.clock.clearTimeout(p.claimed); this.pending.delete(id) }
    }
    let removed = false
    const failureTtl = Math.min(this.limits.resultTtl, FAILURE_TTL)
    for (const [key, r] of this.results) if (now - r.at > (r.ok ? this.limits.resultTtl : failureTtl)) { this.results.delete(key); removed = true }
    if (removed) this.decide()
  }

  private serve (conn: NodeConnection, id: number, port: number, nonce: string | undefined): void {
    const now = this.host.clock.now()
    const ip = this.host.remoteIp(conn)
    const last = this.askers.get(conn.peer)
    if (now - this.minute.start >= 60_000) this.minute = { start: now, count: 0 }
    const observer = observerKey(ip, conn.peer)
    let host = observer === undefined ? undefined : this.observers.get(observer)
    if (host !== undefined && now - host.start >= this.limits.perPeerInterval) host = undefined
    if (ip === undefined || observer === undefined || (last !== undefined && now - last < this.limits.perPeerInterval) || this.minute.count >= this.limits.perMinute || (host?.count ?? 0) >= DIAL_BACKS_PER_OBSERVER) {
      this.refused++
      conn.post({ t: 'dialback-result', id, result: 'refused' })
      return
    }
    this.askers.delete(conn.peer)
    this.askers.set(conn.peer, now)
    if (this.askers.size > MAX_ASKERS) this.askers.delete(this.askers.keys().next().value!)
    this.observers.delete(observer)
    this.observers.set(observer, { start: host?.start ?? now, count: (host?.count ?? 0) + 1 })
    if (this.observers.size > MAX_ASKERS) this.observers.delete(this.observers.keys().next().value!)
    this.minute.count++
    this.served++
    const controller = new AbortController()
    this.probes.add(controller)
    const timer = this.host.clock.setTimeout(() => { controller.abort(new Error('dial-back timed out')) }, this.limits.probeTimeout)
    this.host.probe(formatTcpAddress(ip, port), conn.peer, controller.signal, nonce).then(() => 'ok' as const, () => 'failed' as const).then((result) => {
      this.host.clock.clearTimeout(timer)
      this.probes.delete(controller)
      conn.post({ t: 'dialback-result', id, result })
    }, () => {})
  }
}

/**
 * The verdict from the answers held (one per observer):
 * `public` once at least `DIAL_BACK_CONFIRMATIONS` observers reached us and they outnumber the
 * failures; `private` once at least that many failed and they are at least twice the successes (a
 * peer on our own network reaches us where the rest of the world cannot) — never while `proven` (a
 * public observer's success is held: a success is proven, a failure only claimed). Otherwise a
 * verdict holds while its side still has the majority, else `unknown`.
 */
export function decideReachability (ok: number, failed: number, previous: Reachability, proven = false): Reachability {
  if (ok >= DIAL_BACK_CONFIRMATIONS && ok > failed) return 'public'
  if (!proven && failed >= DIAL_BACK_CONFIRMATIONS && failed >= 2 * ok) return 'private'
  if (previous === 'public' && ok > failed) return 'public'
  if (!proven && previous === 'private' && failed > ok) return 'private'
  return 'unknown'
}
