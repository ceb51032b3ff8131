import type { ConnectionManager, Decision } from '../manager/types.js'
import type { NetworkNode, NetworkSource } from './sources.js'

/** Decisions per peer a node's detail carries (the newest). */
const DECISIONS = 4
/** Other nodes whose decisions about the clicked node are listed, at most. */
const ABOUT = 50

/** What one manager knows and decided about `peer`: the `/api/explain` answer, or undefined when nothing. */
export function explainPeer (manager: ConnectionManager, peer: string): Record<string, unknown> | undefined {
  const info = manager.getPeer(peer)
  const decisions = manager.explain(peer)
  if (info === undefined && decisions.length === 0) return undefined
  return { peer, info: info ?? null, tags: manager.getTagInfo(peer) ?? null, decisions }
}

/**
 * A node of the network as the page shows it when clicked (`/api/node?id=`): its figures and
 * connections with its newest decision about each peer, and what the other nodes decided about it
 * (its admissions, refusals and trims as they saw them). Undefined when no listed node has that id
 * and none knows it.
 */
export function nodeDetail (source: NetworkSource, id: string): Record<string, unknown> | undefined {
  const nodes: NetworkNode[] = [...source.nodes()]
  const node = nodes.find((n) => n.id === id)
  const about: Array<{ node: string; decisions: Decision[] }> = []
  let topics: string[] = []
  for (const other of nodes) {
    if (other.id === id || about.length >= ABOUT) continue
    const decisions = other.manager.explain(id)
    if (decisions.length > 0) about.push({ node: other.id, decisions: decisions.slice(-DECISIONS) })
    if (topics.length === 0) topics = other.manager.getPeer(id)?.topics ?? []
  }
  if (node === undefined && about.length === 0) return undefined
  const connections = node?.manager.listConnections().map((c) => ({ ...c, last: node.manager.explain(c.peer).slice(-1)[0] ?? null })) ?? []
  return {
    id,
    label: node?.label ?? id.slice(0, 8),
    bootstrap: node?.bootstrap === true,
    outside: node === undefined,
    stats: node?.manager.stats() ?? null,
    topics,
    connections,
    about
  }
}
