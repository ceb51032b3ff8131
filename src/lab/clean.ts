import { listNamespaces } from './network.js'
import { runOfNamespace } from './plan.js'
import { run } from './shell.js'

/** Whether process `pid` exists. */
function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as { code?: string }).code === 'EPERM' }
}

/**
 * Removes the leftovers of lab runs whose controller is gone (killed with SIGKILL, a crash of the
 * machine's power aside): their namespaces, the processes still in them, and so the links, bridges,
 * rules and qdiscs inside. Namespaces of a run whose controller still runs are left alone, unless
 * `all`. Returns the namespaces removed.
 */
export async function cleanLab (opts: { all?: boolean } = {}): Promise<string[]> {
  const removed: string[] = []
  for (const ns of await listNamespaces()) {
    const pid = runOfNamespace(ns)
    if (pid === undefined) continue
    if (opts.all !== true && Number(pid) !== process.pid && alive(Number(pid))) continue
    for (const p of (await run('ip', ['netns', 'pids', ns]).catch(() => '')).split(/\s+/).filter((x) => x !== '')) {
      try { process.kill(Number(p), 'SIGKILL') } catch { /* gone */ }
    }
    await run('ip', ['netns', 'del', ns])
    removed.push(ns)
  }
  return removed
}
