import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'

/** Whether Debian's redis-server is on the PATH. */
export function haveRedis (): boolean {
  return spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0
}

/**
 * Why a Redis test cannot run here, or undefined when it can. On CI (`CI=true`, where `.ci/run`
 * installs redis-server) a missing server is a failure, not a skip.
 */
export function redisSkip (): string | undefined {
  if (haveRedis()) return undefined
  if (process.env.CI === 'true') throw new Error('redis-server is not installed, and CI must run the Redis tests (.ci/run installs it)')
  return 'redis-server is not on the PATH (apt-get install redis-server to run this test)'
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => { resolve(port) })
    })
    s.on('error', reject)
  })
}

/** A private redis-server, as `startRedis` gives it: its URL and port, and ways to make it misbehave. */
export interface TestRedis {
  url: string
  port: number
  /** SIGSTOP: the server keeps its sockets open and answers nothing (a hung Redis). */
  pause: () => void
  /** SIGCONT after `pause()`. */
  resume: () => void
  /** Stops the server and starts an empty one on the same port (a restart without persistence). */
  restart: () => Promise<void>
  stop: () => Promise<void>
}

/** A private redis-server on a free 127.0.0.1 port, without persistence, stopped by `stop()`. */
export async function startRedis (): Promise<TestRedis> {
  const port = await freePort()
  let server = await spawnRedis(port)
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pause: () => { server.child.kill('SIGSTOP') },
    resume: () => { server.child.kill('SIGCONT') },
    restart: async () => {
      await server.stop()
      server = await spawnRedis(port)
    },
    stop: async () => { await server.stop() }
  }
}

async function spawnRedis (port: number): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'pw-redis-'))
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true) })
      s.on('error', () => { resolve(false) })
    })
    if (up) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGCONT') // a paused server cannot act on SIGTERM
        child.kill('SIGKILL')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** A Redis server of its own for test `t`, stopped when it ends; undefined (the test skipped) where there is none. */
export async function redisFor (t: TestContext): Promise<TestRedis | undefined> {
  const skip = redisSkip()
  if (skip !== undefined) { t.skip(skip); return undefined }
  const redis = await startRedis()
  t.after(async () => { await redis.stop() })
  return redis
}
