/**
 * The lab's network plan, pure: namespace and link names, addresses, and the nftables rules of each
 * condition. Everything the lab makes is named from here, so `peerwarden lab clean` finds it.
 *
 * Rules:
 * - Every namespace is `pwlab-<run>-…` and every link `pw<run>…`, where `<run>` is the controller's
 *   process id and a letter (a process may run several labs): leftovers of a controller that died are found by name, and those of a run still going
 *   (its process alive) are left alone.
 * - Addresses exist only inside the lab's namespaces: the "internet" is `10.<net>.0.0/16` on a bridge
 *   in the lab namespace (public hosts `10.<net>.1.<i+1>`, NAT routers' outside `10.<net>.2.<i+1>`),
 *   and the network behind host i's NAT is `172.16.<i>.0/24` (router .1, host .2). `<net>` varies with
 *   the run id so two runs' captures are told apart; they could not collide anyway.
 * - At most 250 hosts.
 */

/** How a NAT router maps and filters (see docs/lab.md#conditions). */
export type NatKind = 'port-restricted' | 'symmetric'

/** Hosts a lab may have. */
export const MAX_HOSTS = 250

/** The prefix of every namespace the lab makes. */
export const NAMESPACE_PREFIX = 'pwlab-'

/** Names and addresses of one host (and of its NAT router, if it has one). */
export interface HostPlan {
  index: number
  /** The namespace the host's nodes run in. */
  ns: string
  /** The host's own interface (inside `ns`) and its address. */
  dev: string
  ip: string
  /** Where the host is seen from the internet: its own address, or its router's outside address. */
  publicIp: string
  /** The other end of the host's link (on the bridge, or the router's inside): where ingress is shaped. */
  peerNs: string
  peerDev: string
  nat?: {
    kind: NatKind
    /** The router's namespace, its outside link (on the bridge) and inside link. */
    ns: string
    wanDev: string
    wanIp: string
    lanDev: string
    lanIp: string
    /** The bridge port of the router's outside link, in the lab namespace. */
    bridgePort: string
  }
}

/** The lab namespace, its bridge and the /16 of the run. */
export interface NetworkPlan {
  run: string
  ns: string
  bridge: string
  net: number
  hosts: HostPlan[]
}

/** The plan of a run with `nats[i]` the NAT of host i (undefined: a public host). */
export function planNetwork (run: string, nats: ReadonlyArray<NatKind | undefined>): NetworkPlan {
  if (!/^\d{1,7}[a-z]$/.test(run)) throw new Error(`run id must be 1-7 digits and a letter (got ${JSON.stringify(run)})`)
  if (nats.length < 1 || nats.length > MAX_HOSTS) throw new Error(`hosts must be between 1 and ${MAX_HOSTS} (got ${nats.length})`)
  const net = 100 + (parseInt(run, 10) % 100)
  const ns = `${NAMESPACE_PREFIX}${run}-net`
  const link = (kind: string, i: number): string => `pw${run}${kind}${i}`
  const hosts = nats.map((kind, i): HostPlan => {
    const hostNs = `${NAMESPACE_PREFIX}${run}-h${i}`
    if (kind === undefined) {
      return { index: i, ns: hostNs, dev: link('e', i), ip: `10.${net}.1.${i + 1}`, publicIp: `10.${net}.1.${i + 1}`, peerNs: ns, peerDev: link('h', i) }
    }
    const routerNs = `${NAMESPACE_PREFIX}${run}-r${i}`
    const wanIp = `10.${net}.2.${i + 1}`
    return {
      index: i,
      ns: hostNs,
      dev: link('e', i),
      ip: `172.16.${i}.2`,
      publicIp: wanIp,
      peerNs: routerNs,
      peerDev: link('l', i),
      nat: { kind, ns: routerNs, wanDev: link('w', i), wanIp, lanDev: link('l', i), lanIp: `172.16.${i}.1`, bridgePort: link('r', i) }
    }
  })
  return { run, ns, bridge: `pw${run}br`, net, hosts }
}

/** Every namespace of a plan, the lab namespace last (deleting it takes the bridge and its ports). */
export function namespacesOf (plan: NetworkPlan): string[] {
  const out: string[] = []
  for (const h of plan.hosts) {
    out.push(h.ns)
    if (h.nat !== undefined) out.push(h.nat.ns)
  }
  out.push(plan.ns)
  return out
}

/** The controller's process id in a lab namespace's name, or undefined for a name the lab did not make. */
export function runOfNamespace (name: string): string | undefined {
  return /^pwlab-(\d{1,7})[a-z]-/.exec(name)?.[1]
}

/** What a host's own nftables table does now: loss (per direction) and a partition. */
export interface HostFilter {
  /** Percent of packets dropped, each direction, 0–100 (tenths kept). */
  loss: number
  /** When set, the host talks only to these addresses (a partition); loopback always. */
  allow?: readonly string[]
}

/** The table name every host and router rule lives in (replaced whole on each change). */
export const TABLE = 'pwlab'

/**
 * The nft script that replaces a host's filter table with `filter` (atomically: nft applies the file
 * as one transaction). Loss uses `numgen random`, a partition drops (silently: no reset, no ICMP).
 */
export function hostFilterScript (filter: HostFilter): string {
  const rules = (dir: 'input' | 'output'): string[] => {
    const lines = [dir === 'input' ? 'iifname "lo" accept' : 'oifname "lo" accept']
    if (filter.allow !== undefined) {
      const set = filter.allow.length > 0 ? `{ ${filter.allow.join(', ')} }` : undefined
      const field = dir === 'input' ? 'ip saddr' : 'ip daddr'
      lines.push(set === undefined ? 'meta nfproto ipv4 drop' : `meta nfproto ipv4 ${field} != ${set} drop`)
    }
    const permille = Math.round(Math.min(100, Math.max(0, filter.loss)) * 10)
    // nft compares with the modulus's range (0-999): 100 % is a plain drop.
    if (permille >= 1000) lines.push('drop')
    else if (permille > 0) lines.push(`numgen random mod 1000 < ${permille} drop`)
    return lines
  }
  return [
    `table inet ${TABLE}`,
    `delete table inet ${TABLE}`,
    `table inet ${TABLE} {`,
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    ...rules('input').map((r) => `    ${r}`),
    '  }',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    ...rules('output').map((r) => `    ${r}`),
    '  }',
    '}',
    ''
  ].join('\n')
}

/**
 * The nft script of a NAT router: masquerade out of `wanDev` (`symmetric`: `fully-random` ports, a new
 * mapping per destination; `port-restricted`: the port kept, one mapping for all destinations), and
 * nothing unsolicited in from outside (only established and related traffic).
 */
export function natScript (kind: NatKind, wanDev: string): string {
  return [
    `table ip ${TABLE}_nat {`,
    '  chain post {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    oifname "${wanDev}" masquerade${kind === 'symmetric' ? ' fully-random' : ''}`,
    '  }',
    '}',
    `table inet ${TABLE}_fw {`,
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    iifname "${wanDev}" ct state established,related accept`,
    `    iifname "${wanDev}" drop`,
    '  }',
    '  chain forward_wan {',
    '    type filter hook forward priority filter; policy accept;',
    `    iifname "${wanDev}" ct state established,related accept`,
    `    iifname "${wanDev}" drop`,
    '  }',
    '}',
    ''
  ].join('\n')
}

/** A tc rate such as '8mbit', '512kbit' (checked: tc's own units, a positive number). */
export function checkRate (rate: string): string {
  if (!/^\d+(\.\d+)?(bit|kbit|mbit|gbit)$/.test(rate)) throw new Error(`rate must look like 8mbit, 512kbit (got ${JSON.stringify(rate)})`)
  return rate
}
