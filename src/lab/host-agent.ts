import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { PeerwardenError } from '../errors.js'
import type { HostPlan } from './plan.js'

/**
 * One agent process in a host's namespace (agent.ts), answering commands by id: the controller's
 * side. `stop()` (or SIGKILL of `child`) ends it; a lab's `destroy()` kills what runs in its namespaces anyway.
 */
export class HostAgent {
  private next = 1
  private readonly waiting = new Map<number, (answer: Record<string, unknown>) => void>()
  /** Resolves once the agent runs; rejects if it exits first. */
  readonly ready: Promise<void>

  constructor (readonly host: HostPlan, readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout! })
    this.ready = new Promise((resolve, reject) => {
      child.once('exit', (code) => { reject(new PeerwardenError('ERR_LAB', `punch agent in ${host.ns} exited (${String(code)})`)) })
      lines.on('line', (line) => {
        let m: Record<string, unknown>
        try { m = JSON.parse(line) as Record<string, unknown> } catch { return }
        if (m.type === 'ready') { resolve(); return }
        const w = this.waiting.get(m.id as number)
        this.waiting.delete(m.id as number)
        w?.(m)
      })
    })
  }

  /** Starts an agent in `host`'s namespace; await `ready` before sending. */
  static start (host: HostPlan): HostAgent {
    const script = new URL('./agent.js', import.meta.url).pathname
    const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, script], { stdio: ['pipe', 'pipe', 'inherit'] })
    return new HostAgent(host, child)
  }

  /** Sends a command (see agent.ts) and resolves with its answer. */
  async send (command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.next++
    return await new Promise((resolve) => {
      this.waiting.set(id, resolve)
      this.child.stdin!.write(JSON.stringify({ id, ...command }) + '\n')
    })
  }

  /** Ends the agent (SIGKILL). */
  stop (): void { this.child.kill('SIGKILL') }
}
