/**
 * What passes between the lab's controller and its node processes: the runner's configuration, and
 * the lines it prints (checked when read: a line that is not one of them is ignored).
 */

/** Which software a lab node runs: a peerwarden node, Hyperswarm under `manageSwarm`, js-libp2p under `peerwarden/libp2p`. */
export type LabStack = 'peerwarden' | 'hyperswarm' | 'libp2p'

/** What the controller tells a node process (one JSON argument). */
export interface RunnerConfig {
  /** Whether the node is a bootstrap node (the Hyperswarm stack runs the lab's DHT there). */
  role: 'bootstrap' | 'node'
  /** 'tcp://<host ip>:<port>'. */
  listen: string
  bootstrap: string[]
  announce?: string[]
  dataDir: string
  topics: string[]
  lowWater: number
  highWater: number
  sampleEvery: number
  /** The host's interface, whose byte counters the samples carry. */
  dev: string
  /** More `createNode` options (keepAlive, deadTimeout, perIpRate…), as JSON. */
  nodeOptions: Record<string, unknown>
}

/** One sample of a node, as printed by the runner. */
export interface Sample {
  type: 'sample'
  /** Wall-clock ms. */
  at: number
  connections: number
  inbound: number
  outbound: number
  known: number
  /** Dials begun since this process started, and how many failed. */
  dials: number
  dialsFailed: number
  /** Inbound sockets refused before cryptography: all, for the per-IP rate, for the per-IP pending budget. */
  refusedEarly: number
  refusedRate: number
  refusedPerIp: number
  failedHandshakes: number
  /** Ids of the peers connected now, and of those among them whose connection came in (they dialled us). */
  peers: string[]
  inboundPeers: string[]
  /** The addresses the node tells peers. */
  advertised: string[]
  /** Bytes received and sent by the host's interface (all nodes of the host together). */
  rx: number
  tx: number
  /** Reachability figures of a peerwarden node (other stacks leave them out). */
  reach?: ReachSample
}

/** A peerwarden node's reachability: its dial-back verdict, relays, circuits, punches (counters since its process started). */
export interface ReachSample {
  reachability: string
  /** Relays it holds a reservation with; reservations and circuits it serves as a relay, circuits it cut. */
  relaysHeld: number
  relayReservations: number
  relayCircuits: number
  relayCut: number
  /** Bytes it forwarded as a relay (optional: older runners leave it out). */
  relayBytes?: number
  dialBacksServed: number
  /** Hole punches begun over relayed connections, and those that gave a direct connection. */
  punches: number
  punchesDirect: number
  /** Peers connected now through a relay. */
  relayedPeers: string[]
}

/** The runner's first line. */
export interface Ready { type: 'ready'; id: string; addresses: string[]; advertised: string[] }

/** The runner's last line when the node could not start. */
export interface RunnerError { type: 'error'; message: string; code?: string }

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string')

/** A line of a runner's stdout → what it says, or undefined for anything else (logs, half lines). */
export function parseRunnerLine (line: string): Sample | Ready | RunnerError | undefined {
  let o: Record<string, unknown>
  try {
    const v: unknown = JSON.parse(line)
    if (v === null || typeof v !== 'object') return undefined
    o = v as Record<string, unknown>
  } catch { return undefined }
  if (o.type === 'ready' && typeof o.id === 'string' && strings(o.addresses) && strings(o.advertised)) return o as unknown as Ready
  if (o.type === 'error' && typeof o.message === 'string') return o as unknown as RunnerError
  if (o.type !== 'sample') return undefined
  if (o.reach !== undefined && !reachSample(o.reach)) delete o.reach
  for (const k of ['at', 'connections', 'inbound', 'outbound', 'known', 'dials', 'dialsFailed', 'refusedEarly', 'refusedRate', 'refusedPerIp', 'failedHandshakes', 'rx', 'tx']) {
    if (!num(o[k])) return undefined
  }
  if (!strings(o.peers) || !strings(o.inboundPeers) || !strings(o.advertised)) return undefined
  return o as unknown as Sample
}

function reachSample (v: unknown): v is ReachSample {
  if (v === null || typeof v !== 'object') return false
  const o = v as Record<string, unknown>
  return typeof o.reachability === 'string' && strings(o.relayedPeers) &&
    ['relaysHeld', 'relayReservations', 'relayCircuits', 'relayCut', 'dialBacksServed', 'punches', 'punchesDirect'].every((k) => num(o[k])) &&
    (o.relayBytes === undefined || num(o.relayBytes))
}
