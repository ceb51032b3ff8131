/** The coordinator's handle on a bulk sender child (bench/peers/bulk-sender.js), one per contestant. */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { withTimeout, type ReceiverRole } from './common.js'
import { bulkExecArgv } from './heap-ballast.js'

/** One timed run: ms from its first byte to the receiver's ack, and the sender process's CPU time and Mark-Compacts in it. */
export interface BulkRun { ms: number; cpuMs: number; majorGcs: number }

/** A sender child: `run(bytes)` times one run. */
export interface BulkSender { role: ReceiverRole; run: (bytes: number) => Promise<BulkRun>; stop: () => Promise<void> }

/** A sender child for `role`, connected to its receiver at `address`. */
export async function startBulkSender (role: ReceiverRole, address: string, chunk: number): Promise<BulkSender> {
  const script = fileURLToPath(new URL('./bulk-sender.js', import.meta.url))
  const child = fork(script, [role, address, String(chunk)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: bulkExecArgv() })
  const next = async (what: string, ms: number): Promise<Record<string, unknown>> => await withTimeout(new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => { reject(new Error(`${role} sender exited with ${String(code)}`)) }
    child.once('exit', onExit)
    child.once('message', (m) => { child.off('exit', onExit); resolve(m as Record<string, unknown>) })
  }), ms, `${role} sender ${what}`)
  await next('start', 15_000)
  return {
    role,
    run: async (bytes) => {
      const answer = next('run', 30_000)
      child.send({ run: bytes })
      const m = await answer
      if (typeof m.ms !== 'number' || typeof m.cpuMs !== 'number') throw new Error(`${role} sender: ${String(m.error)}`)
      return { ms: m.ms, cpuMs: m.cpuMs, majorGcs: typeof m.majorGcs === 'number' ? m.majorGcs : NaN }
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.send({ stop: true })
      try { await withTimeout(exited, 5_000, `${role} sender exit`) } catch { child.kill('SIGKILL'); await exited }
    }
  }
}
