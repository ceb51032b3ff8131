import { execFile, spawnSync } from 'node:child_process'
import { PeerwardenError } from '../errors.js'

/**
 * Runs a command of the lab's tools (`ip`, `nft`, `tc`) and resolves with its stdout; a non-zero
 * exit rejects with `ERR_LAB` naming the command and its stderr. `input` goes to its stdin (nft -f -).
 */
export async function run (command: string, args: readonly string[], input?: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = execFile(command, args, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      if (err === null) { resolve(stdout); return }
      reject(new PeerwardenError('ERR_LAB', `${command} ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }))
    })
    if (input !== undefined) child.stdin?.end(input)
  })
}

/** `run` without waiting: for cleanup at exit, where nothing asynchronous runs any more. Failures are ignored. */
export function runSync (command: string, args: readonly string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000 })
  return r.status === 0 ? r.stdout : ''
}

/**
 * Why the lab cannot run on this machine, or undefined when it can: it needs Linux, root (network
 * namespaces), `ip` and `nft`.
 */
export function labUnsupported (): string | undefined {
  if (process.platform !== 'linux') return `the lab needs Linux network namespaces (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'the lab needs root (it makes network namespaces)'
  const ip = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  if (ip.error !== undefined || ip.status !== 0) return `\`ip netns\` does not work here (${ip.error?.message ?? ip.stderr.trim()})`
  const nft = spawnSync('nft', ['--version'], { encoding: 'utf8' })
  if (nft.error !== undefined || nft.status !== 0) return 'nft (nftables) is not installed'
  return undefined
}
