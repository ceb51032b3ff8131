/**
 * One node holding thousands of idle connections, side by side with js-libp2p and Hyperswarm holding
 * the same: the holder runs in a process of its own (bench/peers/idle-holder.js, the one measured),
 * the connections come from dialer processes (bench/peers/idle-dialer.js), each connection from an
 * identity of its own, everything on 127.0.0.1. This process only coordinates.
 */
import type { Figure } from './manager.bench.js'
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { setPriority } from 'node:os'
import { fileURLToPath } from 'node:url'
import createTestnet from '@hyperswarm/testnet'
import { median, met, rotated, sleep, withTimeout } from './peers/common.js'
import { FLOOR_PERIOD_MS, type IdleRole } from './peers/idle-common.js'

export interface IdleOptions {
  /** Connections the holder is offered. Default 5,000. */
  connections?: number
  /** Dialer processes (each opens connections / dialers). Default 10. */
  dialers?: number
  /** Connections each dialer process has in flight at once. Default 8. */
  concurrency?: number
  /** Wall time over which the holder's CPU is measured. Default 30,000 ms. */
  idleMs?: number
  /**
   * Wall time between the last connection accepted and the idle window, for every contestant: the
   * set-up's transients end (peerwarden's manager files connections for trimming once their grace
   * period, 20 s by default, is over). A full GC starts it; after it the window waits until the
   * holder has run a major GC of its own since the forced one and then none for 10 s (at most 90 s
   * more): V8's memory reducer follows the accepts and the forced GC with one or two major GCs, 8 to
   * 40 s later here, a transient of the set-up that a longer window does not see again. Default 25,000 ms.
   */
  settleMs?: number
  /** Rounds; each runs every contestant once, in rotated order. Default 3. */
  rounds?: number
  /**
   * The dialers start no new dial after this long (ms); what is held then is measured (a stack that
   * cannot take every connection in time shows how many it took). Default 300,000.
   */
  dialMs?: number
  /**
   * Contestants. Default the three stacks and 'floor': plain sockets doing one 20-byte exchange per
   * keep-alive period (bench/peers/idle-common.ts), the floor peerwarden's CPU figure is read against.
   */
  roles?: IdleRole[]
  /**
   * More peerwarden arms, run in the same rounds as the others: each `"<keepAlive>,<deadTimeout>"`
   * (ms; an empty field keeps the default) sets both on the holder and its dialers. Default: the
   * `IDLE_PW_ARMS` environment variable, arms separated by ';' (e.g. `3600000,3600000;,60000`: the
   * keep-alives off, and a 60 s deadTimeout).
   */
  timings?: string[]
}

/** One contestant's figures in one round. */
interface Held {
  role: string
  /** Bytes per connection, after a full GC, once every connection was held and the idle window passed. */
  rssPerConn: number
  heapPerConn: number
  externalPerConn: number
  /** CPU µs per second of wall time per connection over the idle window. */
  cpuPerConnSec: number
  /** The user-space part of it (the rest is the kernel's: system calls, loopback TCP). */
  userPerConnSec: number
  /**
   * After `settleMs`, how long the window waited for the holder's memory reducer: a major GC since
   * the forced one, then none for 10 s (at most 90 s), and the major GCs in that wait.
   */
  quiet: { waitedMs: number; majorGcs: number }
  /** Major and minor GCs in the idle window, and the main thread's GC pauses there (ms). */
  idleGcs: { major: number; minor: number; pauseMs: number }
  /** From the dialers' start to the holder holding every connection. */
  acceptMs: number
  /** The holder's CPU time (user + system) over the accepts, per connection held, µs. */
  acceptCpuUs: number
  /** The dialer processes' CPU time (user + system) over their dials, all together, per connection held, µs. */
  dialerCpuUs: number
  /**
   * This coordinating process's CPU time over the dials, per connection held, µs: for Hyperswarm it
   * runs the testnet's DHT nodes, which relay every connection's handshake; for the others only the
   * IPC with its children.
   */
  relayCpuUs: number
  held: number
  failed: number
  /** Dials still in flight when the dialing time was up. */
  pending: number
  /** The first few distinct errors of the failed dials. */
  errors: unknown[]
}

/**
 * Memory per connection (RSS, V8 heap and external memory deltas over the holder before any
 * connection, each after a full GC), CPU per idle second per connection (process.cpuUsage of the
 * holder over `idleMs`), and the time to accept them all, for peerwarden, js-libp2p (TCP + Noise +
 * Yamux, its default connection monitor and Yamux keep-alive) and Hyperswarm (on a 3-node testnet
 * bound to 127.0.0.1; the dialers reach it by `dht.connect` from one DHT node per process).
 * Targets: <= 16 KB and <= 1 µs of CPU per second per idle connection, and ahead of both peers on
 * each figure. Ratios are medians of the per-round ratios (the contestants of a round run back to back).
 */
export async function idleConnections (opts: IdleOptions = {}): Promise<Figure[]> {
  const n = opts.connections ?? 5_000
  const dialers = opts.dialers ?? 10
  const concurrency = opts.concurrency ?? 8
  const idleMs = opts.idleMs ?? 30_000
  const settleMs = opts.settleMs ?? 25_000
  const rounds = opts.rounds ?? 3
  const dialMs = opts.dialMs ?? 300_000
  const timings = opts.timings ?? (process.env.IDLE_PW_ARMS ?? '').split(';').filter((t) => t !== '')
  const base = opts.roles ?? ['peerwarden', 'libp2p', 'hyperswarm', 'floor']
  // A contestant is a role, or 'peerwarden <keepAlive>,<deadTimeout>'.
  const roles: string[] = [...base, ...(base.includes('peerwarden') ? timings.map((t) => `peerwarden ${t}`) : [])]
  const runs: Record<string, Held[]> = {}
  /** Why a contestant's run ended without figures (it is not run again). */
  const failures: Record<string, string> = {}
  for (const r of roles) runs[r] = []
  for (let round = 0; round < rounds; round++) {
    for (const role of rotated(roles, round)) {
      if (failures[role] !== undefined) continue
      try {
        const held = await holdOnce(role, n, dialers, concurrency, settleMs, idleMs, dialMs)
        runs[role].push(held)
        process.stderr.write(`idle: round ${round + 1} ${role}: ${JSON.stringify(held)}\n`)
      } catch (err) {
        failures[role] = (err as Error).message
        process.stderr.write(`idle: round ${round + 1} ${role}: FAILED ${failures[role]}\n`)
      }
    }
  }
  const out: Figure[] = []
  const med = (role: string, k: keyof Held): number => median(runs[role].map((h) => h[k] as number))
  const note = (role: string): string => {
    const hs = runs[role]
    return `${n} connections from ${dialers} processes, ${concurrency} in flight each; held ${hs.map((h) => h.held).join('/')}, failed ${hs.map((h) => h.failed).join('/')}, in flight when the ${dialMs / 1000} s of dialing were up ${hs.map((h) => h.pending).join('/')}; ` +
      `errors: ${[...new Set(hs.flatMap((h) => h.errors))].slice(0, 3).join('; ') || 'none'}; ` +
      `per round: RSS ${hs.map((h) => kb(h.rssPerConn)).join('/')} KB, heap ${hs.map((h) => kb(h.heapPerConn)).join('/')} KB, external ${hs.map((h) => kb(h.externalPerConn)).join('/')} KB, ` +
      `CPU ${hs.map((h) => h.cpuPerConnSec.toFixed(2)).join('/')} µs/s (user ${hs.map((h) => h.userPerConnSec.toFixed(2)).join('/')}; GCs in the window, major/minor/pause ms: ${hs.map((h) => `${h.idleGcs.major}/${h.idleGcs.minor}/${h.idleGcs.pauseMs}`).join(', ')}; ` +
      `the window waited ${hs.map((h) => (h.quiet.waitedMs / 1000).toFixed(1)).join('/')} s after the settling time for the memory reducer (a major GC since the forced one, then 10 s without), which saw ${hs.map((h) => h.quiet.majorGcs).join('/')}), accept ${hs.map((h) => Math.round(h.acceptMs)).join('/')} ms ` +
      `(the holder's CPU ${hs.map((h) => Math.round(h.acceptCpuUs)).join('/')} µs per connection, the dialers' ${hs.map((h) => Math.round(h.dialerCpuUs)).join('/')} µs, the coordinator's ${hs.map((h) => Math.round(h.relayCpuUs)).join('/')} µs)`
  }
  for (const role of roles) {
    const ours = role.startsWith('peerwarden')
    if (runs[role].length === 0) {
      out.push({ name: `idle ${n}: ${role} memory per connection (RSS)`, value: NaN, unit: 'KB', runs: 0, note: `FAILED: ${failures[role]}` })
      continue
    }
    out.push({ name: `idle ${n}: ${role} memory per connection (RSS)`, value: +kb(med(role, 'rssPerConn')), unit: 'KB', ...(ours ? { target: '<= 16' } : {}), runs: rounds, note: `${ours ? met(med(role, 'rssPerConn') <= 16 * 1024) + '; ' : ''}heap ${kb(med(role, 'heapPerConn'))} KB, external ${kb(med(role, 'externalPerConn'))} KB; ${note(role)}` })
    out.push({ name: `idle ${n}: ${role} CPU per idle connection`, value: +med(role, 'cpuPerConnSec').toFixed(3), unit: 'µs/s', ...(ours ? { target: '<= 1' } : {}), runs: rounds, note: `${ours ? met(med(role, 'cpuPerConnSec') <= 1) + '; ' : ''}over ${idleMs / 1000} s of wall time, from ${settleMs / 1000} s after the last connection was accepted and 10 s after the memory reducer's GCs` })
    out.push({ name: `idle ${n}: ${role} time to accept all`, value: Math.round(med(role, 'acceptMs')), unit: 'ms', runs: rounds })
    out.push({ name: `idle ${n}: ${role} holder's CPU per connection accepted`, value: Math.round(med(role, 'acceptCpuUs')), unit: 'µs', runs: rounds, note: 'user + system, from the dialers\' start to the last connection accepted' })
    out.push({ name: `idle ${n}: ${role} dialers' CPU per connection opened`, value: Math.round(med(role, 'dialerCpuUs')), unit: 'µs', runs: rounds, note: 'user + system of all dialer processes over their dials, per connection held: on a machine whose cores they share with the holder, it paces the time to accept' })
    out.push({ name: `idle ${n}: ${role} coordinator's CPU per connection opened`, value: Math.round(med(role, 'relayCpuUs')), unit: 'µs', runs: rounds, note: role === 'hyperswarm' ? 'the testnet\'s DHT nodes in the coordinating process relay each connection\'s handshake (and the IPC)' : 'the IPC with the children only' })
    out.push({ name: `idle ${n}: ${role} CPU per connection, every process`, value: Math.round(med(role, 'acceptCpuUs') + med(role, 'dialerCpuUs') + med(role, 'relayCpuUs')), unit: 'µs', runs: rounds, note: 'the holder\'s, the dialers\' and the coordinator\'s, over the accepts: what the two cores spend per connection, and so what paces the time to accept on this machine' })
  }
  if (roles.includes('peerwarden')) {
    for (const peer of roles.filter((r) => r !== 'peerwarden' && runs[r].length === runs.peerwarden.length && runs[r].length > 0)) {
      if (peer === 'floor') {
        // peerwarden / the floor: what peerwarden spends per idle connection above plain sockets doing one exchange per keep-alive.
        const rs = runs.peerwarden.map((h, i) => h.cpuPerConnSec / runs.floor[i].cpuPerConnSec)
        out.push({ name: `idle ${n}: peerwarden / floor, CPU per idle connection`, value: +median(rs).toFixed(2), unit: 'x', runs: rounds, note: `per round ${rs.map((r) => r.toFixed(2)).join('/')}; the floor: plain sockets, 20 bytes out and echoed back every ${FLOOR_PERIOD_MS / 1000} s per connection` })
        continue
      }
      for (const [k, what] of [['rssPerConn', 'memory (RSS)'], ['cpuPerConnSec', 'CPU'], ['acceptMs', 'time to accept'], ['acceptCpuUs', 'CPU to accept'], ['totalCpuUs', 'CPU of every process to connect']] as const) {
        // peer / peerwarden: more than 1 means peerwarden is ahead (less memory, less CPU, less time).
        // Time to accept: per connection held (a stack that failed some dials held fewer).
        const per = (h: Held): number => (k === 'acceptMs' ? h[k] / h.held : k === 'totalCpuUs' ? h.acceptCpuUs + h.dialerCpuUs + h.relayCpuUs : h[k])
        const rs = runs.peerwarden.map((h, i) => per(runs[peer][i]) / per(h))
        const v = median(rs)
        // Another peerwarden arm (other timing) is compared without a target: what the timing costs.
        const arm = peer.startsWith('peerwarden')
        out.push({ name: `idle ${n}: ${peer} / peerwarden, ${what} per connection`, value: +v.toFixed(2), unit: 'x', ...(arm ? {} : { target: '> 1' }), runs: rounds, note: `${arm ? '' : met(v > 1) + '; '}per round ${rs.map((r) => r.toFixed(2)).join('/')}` })
      }
    }
  }
  return out
}

const kb = (bytes: number): string => (bytes / 1024).toFixed(1)

/** One contestant once: a fresh holder and fresh dialers, `n` connections, an idle window, then all stopped. */
async function holdOnce (contestant: string, n: number, dialers: number, concurrency: number, settleMs: number, idleMs: number, dialMs: number): Promise<Held> {
  const [role, timing] = contestant.split(' ') as [IdleRole, string | undefined]
  const testnet = role === 'hyperswarm' ? await createTestnet(3, { host: '127.0.0.1' }) : undefined
  const bootstrap = testnet === undefined ? [] : [JSON.stringify(testnet.bootstrap)]
  const env = timing === undefined ? undefined : { ...process.env, IDLE_PW_TIMING: timing }
  const children: Child[] = []
  try {
    const holder = Child.start('idle-holder.js', [role, String(n), ...bootstrap], n + 512, env)
    children.push(holder)
    const { address } = await holder.next('start', 30_000)
    const per = Math.ceil(n / dialers)
    const ds: Child[] = []
    for (let i = 0; i < dialers; i++) {
      const count = Math.min(per, n - i * per)
      if (count <= 0) break
      ds.push(Child.start('idle-dialer.js', [role, String(address), String(count), String(concurrency), ...bootstrap], count + 512, env))
    }
    children.push(...ds)
    // The dialers make their identities in parallel; the holder's baseline is taken once they are done.
    await Promise.all(ds.map(async (d) => await d.next('identities', 300_000)))
    await sleep(500)
    const before = await holder.ask({ op: 'mem' }, 30_000)
    await holder.ask({ op: 'mark' }, 5_000)
    const c0 = process.cpuUsage()
    const results = await Promise.all(ds.map(async (d) => await d.ask({ op: 'go', ms: dialMs }, dialMs + 60_000)))
    const relay = process.cpuUsage(c0)
    await sleep(500) // the holder's side of the last handshakes
    // A holder busy with its connections (js-libp2p's pings) answers late: generous deadlines.
    const accepted = await holder.ask({ op: 'accepted' }, 120_000)
    const failed = results.reduce((s, r) => s + (r.failed as number), 0)
    const pending = results.reduce((s, r) => s + (r.pending as number), 0)
    const dialerCpuUs = results.reduce((s, r) => s + (r.cpuUs as number), 0)
    const errors = [...new Set(results.map((r) => r.error).filter((e) => e !== undefined))].slice(0, 3)
    if ((accepted.count as number) === 0) throw new Error(`${contestant}: no connection held; ${failed} dials failed (${errors.join('; ')})`)
    // The forced GC before the settling time: V8's follow-up GCs of it (memory reducer) fall there, not in the window.
    await holder.ask({ op: 'gc' }, 120_000)
    await sleep(settleMs)
    const quiet = await holder.ask({ op: 'quiet', quietMs: 10_000, maxMs: 90_000 }, 150_000)
    const idle = await holder.ask({ op: 'idle', ms: idleMs }, idleMs + 120_000)
    const after = await holder.ask({ op: 'mem' }, 120_000)
    if (process.env.IDLE_SNAPSHOT !== undefined) await holder.ask({ op: 'snapshot', path: `${process.env.IDLE_SNAPSHOT}/${contestant.replace(/[ ,]/g, '_')}-${n}.heapsnapshot` }, 120_000)
    const held = after.count as number
    const per1 = (k: string): number => ((after[k] as number) - (before[k] as number)) / held
    return {
      role: contestant,
      rssPerConn: per1('rss'),
      heapPerConn: per1('heap'),
      externalPerConn: per1('external'),
      cpuPerConnSec: (idle.cpuUs as number) / ((idle.wallMs as number) / 1000) / (idle.count as number),
      userPerConnSec: (idle.userUs as number) / ((idle.wallMs as number) / 1000) / (idle.count as number),
      quiet: { waitedMs: Math.round(quiet.waitedMs as number), majorGcs: quiet.majorGcs as number },
      idleGcs: { major: idle.majorGcs as number, minor: idle.minorGcs as number, pauseMs: Math.round(idle.gcPauseMs as number) },
      acceptMs: accepted.ms as number,
      acceptCpuUs: (accepted.cpuUs as number) / (accepted.count as number),
      dialerCpuUs: dialerCpuUs / (accepted.count as number),
      relayCpuUs: (relay.user + relay.system) / (accepted.count as number),
      held,
      failed,
      pending,
      errors
    }
  } finally {
    // Dialers first: the holder then sees its connections close as they would in the field.
    await Promise.all(children.slice(1).map(async (c) => { await c.stop() }))
    await children[0]?.stop()
    await testnet?.destroy().catch(() => {})
  }
}

/** The soft limit on open files of this process (children inherit it); Infinity if unknown. */
function openFilesLimit (): number {
  try {
    const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'))
    return m === null || m[1] === 'unlimited' ? Infinity : Number(m[1])
  } catch {
    return Infinity
  }
}

/**
 * A child process spoken to over IPC. Forked with --expose-gc; when the soft limit on open files is
 * below what the child needs (one per connection, and some), it is started through `bash -c 'ulimit
 * -n …; exec node …'` instead (ulimit is a shell builtin; the IPC channel survives the exec).
 * With IDLE_PROF=<dir> in the environment the holder writes a CPU profile there (--cpu-prof; its
 * whole life: the accepts, then the idle window), with IDLE_PROF_DIALERS=<dir> each dialer; with
 * IDLE_SNAPSHOT=<dir>, a heap snapshot once the idle window is over; IDLE_HOLDER_FLAGS="<node flags>"
 * adds flags to the holder's node (e.g. `--perf-basic-prof` for `perf`; IDLE_ATTACH in idle-holder.ts
 * runs a command on the holder during the idle window). With IDLE_DIALER_NICE=<n> the
 * dialers run at that niceness (e.g. 10), every contestant's alike: on a busy 2-core machine the one
 * holder process otherwise competes for its share with the ten dialers it wakes.
 */
class Child {
  /** Messages not taken yet, and who waits for the next one. */
  private readonly inbox: Array<Record<string, unknown>> = []
  private waiter: ((m: Record<string, unknown>) => void) | undefined

  private constructor (private readonly proc: ChildProcess, private readonly what: string) {
    proc.on('message', (m) => {
      const w = this.waiter
      this.waiter = undefined
      if (w !== undefined) w(m as Record<string, unknown>)
      else this.inbox.push(m as Record<string, unknown>)
    })
  }

  static start (script: string, args: string[], files: number, env?: NodeJS.ProcessEnv): Child {
    const path = fileURLToPath(new URL(`./peers/${script}`, import.meta.url))
    const stdio: ['ignore', 'inherit', 'inherit', 'ipc'] = ['ignore', 'inherit', 'inherit', 'ipc']
    const holder = script === 'idle-holder.js'
    const prof = holder ? process.env.IDLE_PROF : process.env.IDLE_PROF_DIALERS
    const extra = holder ? (process.env.IDLE_HOLDER_FLAGS ?? '').split(' ').filter((f) => f !== '') : []
    const flags = ['--expose-gc', ...(prof !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), ...extra]
    const proc = files <= openFilesLimit()
      ? fork(path, args, { stdio, env, execArgv: flags })
      : spawn('bash', ['-c', `ulimit -n ${files} && exec "$0" ${flags.join(' ')} "$@"`, process.execPath, path, ...args], { stdio, env })
    const nice = script === 'idle-dialer.js' ? process.env.IDLE_DIALER_NICE : undefined
    if (nice !== undefined && proc.pid !== undefined) {
      try { setPriority(proc.pid, Number(nice)) } catch { /* not allowed here: the dialers run at the holder's priority */ }
    }
    return new Child(proc, `${script} ${args[0]}`)
  }

  /** The child's next message. */
  async next (what: string, ms: number): Promise<Record<string, unknown>> {
    const queued = this.inbox.shift()
    if (queued !== undefined) return queued
    const proc = this.proc
    let onExit: ((code: number | null) => void) | undefined
    try {
      return await withTimeout(new Promise((resolve, reject) => {
        onExit = (code) => { reject(new Error(`${this.what} exited with ${String(code)}`)) }
        proc.once('exit', onExit)
        this.waiter = resolve
      }), ms, `${this.what} ${what}`)
    } finally {
      this.waiter = undefined
      if (onExit !== undefined) proc.off('exit', onExit)
    }
  }

  async ask (m: Record<string, unknown>, ms: number): Promise<Record<string, unknown>> {
    const answer = this.next(String(m.op), ms)
    this.proc.send(m)
    return await answer
  }

  async stop (): Promise<void> {
    const proc = this.proc
    if (proc.exitCode !== null || proc.signalCode !== null) return
    const exited = once(proc, 'exit')
    if (proc.connected) proc.send('stop')
    try { await withTimeout(exited, 10_000, `${this.what} exit`) } catch { proc.kill('SIGKILL'); await exited }
  }
}
