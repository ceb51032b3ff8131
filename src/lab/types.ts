/**
 * What a lab run produces (result.json): the samples and events, and the measures drawn from them.
 */
import type { NatKind } from './plan.js'
import type { Sample } from './samples.js'
import type { Scenario } from './scenario.js'

/** A sample as the result keeps it: whose, and when (ms since the run began). */
export interface NodeSample extends Omit<Sample, 'type' | 'at'> { node: number; t: number }

/** Something the controller did, when (ms since the run began). */
export interface LabEvent {
  t: number
  kind: 'started' | 'ready' | 'converged' | 'kill' | 'restart' | 'partition' | 'heal' | 'loss' | 'rate' | 'end'
  /** Nodes and hosts it was about. */
  nodes?: number[]
  hosts?: number[]
  value?: number | string | null
}

/** Everything a run produced: what the report is drawn from (result.json). */
export interface LabResult {
  scenario: Scenario
  run: string
  /** Wall-clock ms of the run's beginning (t = 0: the first node process started). */
  startedAt: number
  hosts: Array<{ index: number; ip: string; publicIp: string; nat?: NatKind }>
  nodes: Array<{ index: number; host: number; id: string; bootstrap: boolean; address: string }>
  events: LabEvent[]
  samples: NodeSample[]
  measures: Measures
}

/** See `Measures.nat`. */
export interface NatMeasure {
  nodes: number
  reached: number
  dialledOut: number
  relayed: number
  natPeers: number
  natDirect: number
  kinds: Array<{ kind: string; nodes: number; punches: number; punchesDirect: number }>
  connections: { relayed: number; direct: number }
}

/** What a partition did: when it was silently cut, when nothing crossed it any more, when it was healed and whole again. */
export interface PartitionMeasure {
  at: number
  hosts: number[]
  nodes: number[]
  /** ms from the cut until no node held a connection across it (null: never within the run). */
  detectedAfter: number | null
  healedAt: number | null
  /** ms from the heal until a connection crossed again and every running node (bootstrap nodes aside) was at its target (null: never). */
  healedAfter: number | null
}

/** Where a restarted node went back to. */
export interface RestartMeasure {
  node: number
  at: number
  /** Peers (node indices) it held in its last sample before the kill. */
  before: number[]
  /** Peers it held in its first sample with a connection after the restart, and any time in its first 10 s back. */
  first: number[]
  after: number[]
  /** How many of `after` it held before, and how many of `first` are bootstrap nodes. */
  returned: number
  firstBootstrap: number
}

/** The figures of a run (all times ms since the run began unless said otherwise). */
export interface Measures {
  /** Connections every running node aims at: min(lowWater, nodes - 1). */
  target: number
  /** Every node started (the `ready` event). */
  readyAt: number
  /** First time after `readyAt` that every running node (bootstrap nodes aside) held `target` connections, and how long after `readyAt`. */
  convergedAt: number | null
  convergedAfter: number | null
  /** The largest connection count of any sample, and the samples above highWater. */
  maxConnections: number
  aboveHighWater: number
  /** Dials begun and failed, all nodes and all their lives together. */
  dials: number
  dialsFailed: number
  /** Inbound sockets refused before cryptography for a per-IP budget (rate, pending), all nodes together. */
  refusedPerIp: number
  /** The most connections a bootstrap node held, and its inbound connections then. */
  bootstrapPeak: number
  partitions: PartitionMeasure[]
  restarts: RestartMeasure[]
  /**
   * Reachability of the nodes behind NATs: how many there are, how many held a connection that
   * came in from another host (someone outside reached them), how many held one they dialled; of
   * them, how many held a relayed connection to another host, how many held a connection to a node
   * behind another NAT (relayed or direct) and how many a direct one (after a punch); per NAT kind,
   * the punches begun and those that gave a direct connection; and at the end, the connections of
   * the NATed nodes that ran through a relay and those that were direct.
   */
  nat: NatMeasure
  /** Bytes received and sent per host (its interface counters at its last sample). */
  bytes: Array<{ host: number; rx: number; tx: number }>
}
