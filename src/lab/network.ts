import { checkRate, hostFilterScript, namespacesOf, natScript, planNetwork, type HostFilter, type HostPlan, type NatKind, type NetworkPlan } from './plan.js'
import { run, runSync } from './shell.js'

/** What a host is made with. */
export interface HostSpec {
  /** Behind a NAT router of this kind; public when undefined. */
  nat?: NatKind
  /** Percent of packets lost, each direction (default 0). */
  loss?: number
  /** A rate cap each direction, as tc says it ('8mbit'). */
  rate?: string
}

/**
 * The emulated network of one run: a lab namespace holding a bridge (the "internet"), one namespace
 * per host joined to it by a veth pair, and a router namespace in between for a host behind a NAT.
 *
 * Rules:
 * - Nothing is made outside the lab's own namespaces: links are created from inside them, so the
 *   machine's own network is never touched; deleting the namespaces removes everything.
 * - `destroy()` (and `destroySync()`, for process exit) is idempotent and removes every namespace
 *   the run made, also one half made by a failed `create()`.
 * - Conditions change while nodes run: `setFilter` replaces a host's nftables table in one
 *   transaction, `setRate` replaces its tbf qdiscs.
 */
export class LabNetwork {
  readonly plan: NetworkPlan
  private readonly made: string[] = []
  private readonly filters = new Map<number, HostFilter>()
  private destroyed = false

  constructor (run: string, readonly specs: readonly HostSpec[]) {
    this.plan = planNetwork(run, specs.map((s) => s.nat))
  }

  /** The host plans, by index. */
  get hosts (): readonly HostPlan[] { return this.plan.hosts }

  /** The current filter of a host (loss, partition). */
  filterOf (host: number): HostFilter { return this.filters.get(host) ?? { loss: 0 } }

  /** Makes every namespace, link, address, route and rule; on failure removes what it made and rethrows. */
  async create (): Promise<void> {
    try {
      await this.addNamespace(this.plan.ns)
      await ip(this.plan.ns, 'link', 'add', this.plan.bridge, 'type', 'bridge')
      await ip(this.plan.ns, 'link', 'set', this.plan.bridge, 'up')
      for (const [i, h] of this.plan.hosts.entries()) {
        await this.addNamespace(h.ns)
        if (h.nat === undefined) {
          await this.veth(this.plan.ns, h.peerDev, h.ns, h.dev)
          await ip(this.plan.ns, 'link', 'set', h.peerDev, 'master', this.plan.bridge, 'up')
          await ip(h.ns, 'addr', 'add', `${h.ip}/16`, 'dev', h.dev)
          await ip(h.ns, 'link', 'set', h.dev, 'up')
        } else {
          const n = h.nat
          await this.addNamespace(n.ns)
          await this.veth(this.plan.ns, n.bridgePort, n.ns, n.wanDev)
          await ip(this.plan.ns, 'link', 'set', n.bridgePort, 'master', this.plan.bridge, 'up')
          await ip(n.ns, 'addr', 'add', `${n.wanIp}/16`, 'dev', n.wanDev)
          await ip(n.ns, 'link', 'set', n.wanDev, 'up')
          await this.veth(n.ns, n.lanDev, h.ns, h.dev)
          await ip(n.ns, 'addr', 'add', `${n.lanIp}/24`, 'dev', n.lanDev)
          await ip(n.ns, 'link', 'set', n.lanDev, 'up')
          await ip(h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.dev)
          await ip(h.ns, 'link', 'set', h.dev, 'up')
          await ip(h.ns, 'route', 'add', 'default', 'via', n.lanIp)
          await run('ip', ['netns', 'exec', n.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
          await run('ip', ['netns', 'exec', n.ns, 'nft', '-f', '-'], natScript(n.kind, n.wanDev))
        }
        const spec = this.specs[i]
        if ((spec.loss ?? 0) > 0) await this.setFilter(i, { loss: spec.loss ?? 0 })
        if (spec.rate !== undefined) await this.setRate(i, spec.rate)
      }
    } catch (err) {
      await this.destroy()
      throw err
    }
  }

  /** Replaces host `host`'s loss and partition rules. */
  async setFilter (host: number, filter: HostFilter): Promise<void> {
    const h = this.host(host)
    await run('ip', ['netns', 'exec', h.ns, 'nft', '-f', '-'], hostFilterScript(filter))
    this.filters.set(host, filter)
  }

  /** Caps host `host`'s rate each direction (tbf on both ends of its link), or lifts the cap (undefined). */
  async setRate (host: number, rate: string | undefined): Promise<void> {
    const h = this.host(host)
    for (const [ns, dev] of [[h.ns, h.dev], [h.peerNs, h.peerDev]]) {
      if (rate === undefined) {
        await run('tc', ['-n', ns, 'qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined)
      } else {
        await run('tc', ['-n', ns, 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', checkRate(rate), 'burst', '32kb', 'latency', '50ms'])
      }
    }
  }

  /** Bytes through host `host`'s interface so far (received, sent), from its namespace's counters. */
  async bytes (host: number): Promise<{ rx: number; tx: number }> {
    const h = this.host(host)
    const out = await run('ip', ['-n', h.ns, '-j', '-s', 'link', 'show', 'dev', h.dev])
    const [info] = JSON.parse(out) as Array<{ stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } } }>
    return { rx: info?.stats64?.rx?.bytes ?? 0, tx: info?.stats64?.tx?.bytes ?? 0 }
  }

  /** Removes every namespace of the run (the processes still in them are killed first). Idempotent. */
  async destroy (): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    for (const ns of this.toRemove()) {
      for (const pid of (await run('ip', ['netns', 'pids', ns]).catch(() => '')).split(/\s+/).filter((p) => p !== '')) {
        try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ }
      }
      await run('ip', ['netns', 'del', ns]).catch(() => undefined)
    }
  }

  /** `destroy()` for a process about to exit (no event loop left). */
  destroySync (): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const ns of this.toRemove()) {
      for (const pid of runSync('ip', ['netns', 'pids', ns]).split(/\s+/).filter((p) => p !== '')) {
        try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ }
      }
      runSync('ip', ['netns', 'del', ns])
    }
  }

  private toRemove (): string[] {
    const all = namespacesOf(this.plan)
    return all.filter((ns) => this.made.includes(ns))
  }

  private host (i: number): HostPlan {
    const h = this.plan.hosts[i]
    if (h === undefined) throw new Error(`no host ${i} (the lab has ${this.plan.hosts.length})`)
    return h
  }

  private async addNamespace (ns: string): Promise<void> {
    await run('ip', ['netns', 'add', ns])
    this.made.push(ns)
    await ip(ns, 'link', 'set', 'lo', 'up')
  }

  /** A veth pair made from inside `nsA`, its other end moved straight into `nsB`. */
  private async veth (nsA: string, devA: string, nsB: string, devB: string): Promise<void> {
    await ip(nsA, 'link', 'add', devA, 'type', 'veth', 'peer', 'name', devB, 'netns', nsB)
  }
}

async function ip (ns: string, ...args: string[]): Promise<string> {
  return await run('ip', ['-n', ns, ...args])
}

/** Names of `ip netns list`. */
export async function listNamespaces (): Promise<string[]> {
  const out = await run('ip', ['netns', 'list'])
  return out.split('\n').map((l) => l.split(' ')[0]).filter((n) => n !== '')
}
