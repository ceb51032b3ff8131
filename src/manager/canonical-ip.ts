import ipaddr from 'ipaddr.js'

/** An IP literal taken apart: IPv4 octets, or IPv6 16-bit groups (never one that embeds an IPv4 address). */
export type IpParts = { kind: 'ipv4'; octets: number[] } | { kind: 'ipv6'; parts: number[] }

/**
 * The one form an IP is compared, bucketed and counted in, whatever a socket or a peer spelled.
 *
 * Rules:
 * - An IPv4 address is its dotted quad without leading zeros ('1.2.3.4'); the other forms a resolver
 *   accepts ('1.2.771', '0x1020304', '01.02.03.04') are that same address.
 * - An IPv6 address that embeds an IPv4 one is that IPv4 address: IPv4-mapped (`::ffff:0:0/96`, as
 *   '::ffff:1.2.3.4', '::ffff:102:304', '0:0:0:0:0:ffff:102:304', upper-case), IPv4-translated
 *   (`::ffff:0:0:0/96`, '::ffff:0:1.2.3.4') and IPv4-compatible ('::1.2.3.4', '::102:304', when the
 *   IPv4 address's first two octets are not both 0: '::1' stays the IPv6 loopback and '::' stays '::').
 *   An attacker writing its IPv4 address as IPv6 must not land in an IPv6 /64 or /48 of its own.
 * - Any other IPv6 address is its lower-case compressed form (RFC 5952: no leading zeros, the longest
 *   run of two or more zero groups, the first of equal runs, as '::'); a zone id ('fe80::1%eth0') is
 *   dropped: it names an interface of ours, not the peer.
 * - Undefined for anything else (a name, a malformed literal, brackets or a port).
 */
export function canonicalIp (text: string): string | undefined {
  if (USUAL_IPV4.test(text)) return text
  const ip = parseIpParts(text)
  return ip === undefined ? undefined : formatIpParts(ip)
}

/** `text` taken apart as `canonicalIp` reads it (an embedded IPv4 address as IPv4); undefined when it is no IP literal. */
export function parseIpParts (text: string): IpParts | undefined {
  if (USUAL_IPV4.test(text)) return { kind: 'ipv4', octets: text.split('.').map(Number) }
  if (text.includes(':')) return parseIpv6(text)
  // The other IPv4 spellings (hex, octal, fewer parts): rare, so ipaddr.js (which throws inside).
  if (!OTHER_IPV4.test(text) || !ipaddr.IPv4.isValid(text)) return undefined
  try {
    return { kind: 'ipv4', octets: ipaddr.IPv4.parse(text).octets.slice() }
  } catch {
    return undefined
  }
}

/** The canonical text of parsed parts (see `canonicalIp`). */
export function formatIpParts (ip: IpParts): string {
  if (ip.kind === 'ipv4') return ip.octets.join('.')
  const { parts } = ip
  // The longest run of zero groups (two at least), the first one of equal length.
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (parts[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && parts[j] === 0) j++
    if (j - i > bestLen) { best = i; bestLen = j - i }
    i = j
  }
  const hex = parts.map((p) => p.toString(16))
  if (best === -1) return hex.join(':')
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`
}

/** The parts as an ipaddr.js address (no parse: nothing thrown), for its range tables. */
export function toIpaddr (ip: IpParts): ipaddr.IPv4 | ipaddr.IPv6 {
  return ip.kind === 'ipv4' ? new ipaddr.IPv4(ip.octets) : new ipaddr.IPv6(ip.parts)
}

function parseIpv6 (text: string): IpParts | undefined {
  const zone = text.indexOf('%')
  const bare = zone === -1 ? text : text.slice(0, zone)
  if (zone !== -1 && zone === text.length - 1) return undefined
  // A dotted IPv4 tail is the last two groups.
  let text6 = bare
  let tail: number[] = []
  const last = bare.slice(bare.lastIndexOf(':') + 1)
  if (last.includes('.')) {
    if (!USUAL_IPV4.test(last)) return undefined
    const o = last.split('.').map(Number)
    tail = [(o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!]
    text6 = bare.slice(0, bare.length - last.length)
    // '::ffff:' keeps its '::' but drops the ':' before the tail.
    if (!text6.endsWith('::')) text6 = text6.slice(0, -1)
  }
  const halves = text6.split('::')
  if (halves.length > 2) return undefined
  const head = halves[0] === '' ? [] : halves[0]!.split(':')
  const rest = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : []
  const count = head.length + rest.length + tail.length
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined
  const parts: number[] = []
  for (const g of head) { if (!HEX_GROUP.test(g)) return undefined; parts.push(parseInt(g, 16)) }
  for (let i = count; i < 8; i++) parts.push(0)
  for (const g of rest) { if (!HEX_GROUP.test(g)) return undefined; parts.push(parseInt(g, 16)) }
  parts.push(...tail)
  return embeddedIpv4(parts) ?? { kind: 'ipv6', parts }
}

/** The IPv4 address an IPv6 one embeds (mapped, translated or compatible; see `canonicalIp`), if any. */
function embeddedIpv4 (p: number[]): IpParts | undefined {
  if (p[0] !== 0 || p[1] !== 0 || p[2] !== 0) return undefined
  const mapped = p[3] === 0 && p[4] === 0 && p[5] === 0xffff
  const translated = p[3] === 0 && p[4] === 0xffff && p[5] === 0
  const compatible = p[3] === 0 && p[4] === 0 && p[5] === 0 && p[6] !== 0
  if (!mapped && !translated && !compatible) return undefined
  return { kind: 'ipv4', octets: [p[6]! >> 8, p[6]! & 0xff, p[7]! >> 8, p[7]! & 0xff] }
}

const HEX_GROUP = /^[0-9a-f]{1,4}$/i

/** An IPv4 address in its usual dotted form (no leading zeros). */
const USUAL_IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

/** What the other IPv4 spellings are made of (decimal, octal, hex parts; dots). */
const OTHER_IPV4 = /^[0-9a-fx.]+$/i

/**
 * The source an inbound socket is counted under: the IPv4 address (an IPv4 address written as IPv6,
 * in any spelling, is its IPv4 address: `canonicalIp`), or the /64 of an IPv6 address — one host
 * usually holds a whole /64, so counting single IPv6 addresses would give it 2^64 budgets.
 */
export function sourceOf (ip: string): string {
  const parts = parseIpParts(ip)
  return parts === undefined ? ip : sourceOfParts(parts)
}

/** `sourceOf` of parsed parts. */
export function sourceOfParts (parts: IpParts): string {
  if (parts.kind === 'ipv4') return formatIpParts(parts)
  return parts.parts.slice(0, 4).map((p) => p.toString(16)).join(':') + '::/64'
}

/**
 * Every local peer shares the loopback address, so 127.0.0.1 and ::1 (in any spelling: `canonicalIp`)
 * are exempt from the per-source rules; the global cap still holds. The rest of 127/8 is counted like
 * any address (which also lets tests attack from 127.0.0.2).
 */
export function isLoopback (ip: string): boolean {
  if (ip === '127.0.0.1' || ip === '::1') return true
  const c = canonicalIp(ip)
  return c === '127.0.0.1' || c === '::1'
}
