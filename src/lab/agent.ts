/**
 * The lab's host agent: a process inside one host's namespace that does what the controller
 * (host-agent.ts: the hole-punch matrix, the network tests) asks, one JSON line per command on
 * stdin, one JSON line per answer on stdout, each answer carrying the command's `id`. Commands run
 * concurrently; one agent per host replaces a process per probe.
 *
 * - `{ id, cmd: 'reflect', host, port, end? }`: listen; every client is told the address it came from
 *   (`host port\n`), and the socket stays open until the client closes it (with `end`: the address
 *   alone, then the server ends the connection). Answer `{ id, ok }`.
 * - `{ id, cmd: 'dial', host, port, timeout }`: connect and read until the server ends; answer
 *   `{ id, ok: true, text }`, or `{ id, ok: false }` when refused, unreachable or nothing within `timeout` ms.
 * - `{ id, cmd: 'observe', localPort, reflector }`: connect from `localPort` to the reflector and
 *   answer what it saw (`{ id, ok, host, port }`): the NAT's mapping for that port. The connection
 *   stays open (the punch then binds a port already in use by an outgoing connection, as a node would).
 * - `{ id, cmd: 'punch', localPort, remote, attempts, interval, attemptTimeout }`: `simultaneousOpen`,
 *   then one line each way over the new connection; answer `{ id, ok, attempts, ms, heard?, code? }`,
 *   close it and the observing connection of that port.
 */
import net from 'node:net'
import { createInterface } from 'node:readline'
import { simultaneousOpen } from '../node/hole-punch.js'

interface Command {
  id: number
  cmd: 'reflect' | 'observe' | 'punch' | 'dial'
  end?: boolean
  timeout?: number
  host?: string
  port?: number
  localPort?: number
  reflector?: { host: string; port: number }
  remote?: { host: string; port: number }
  attempts?: number
  interval?: number
  attemptTimeout?: number
}

const observing = new Map<number, net.Socket>()
const print = (o: object): void => { process.stdout.write(JSON.stringify(o) + '\n') }

/** The first line a socket receives, or undefined if none within `ms`. */
async function firstLine (socket: net.Socket, ms: number): Promise<string | undefined> {
  return await new Promise((resolve) => {
    let buf = ''
    const timer = setTimeout(() => { finish(undefined) }, ms)
    const onData = (b: Buffer): void => {
      buf += b.toString('utf8')
      const nl = buf.indexOf('\n')
      if (nl >= 0) finish(buf.slice(0, nl))
    }
    const finish = (line: string | undefined): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
      resolve(line)
    }
    const onClose = (): void => { finish(undefined) }
    socket.on('data', onData)
    socket.once('close', onClose)
  })
}

async function reflect (c: Command): Promise<object> {
  const server = net.createServer((s) => {
    s.on('error', () => {})
    if (c.end === true) s.end(s.remoteAddress ?? '')
    else s.write(`${s.remoteAddress ?? ''} ${s.remotePort ?? 0}\n`)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(c.port, c.host, resolve)
  })
  return { ok: true }
}

async function observe (c: Command): Promise<object> {
  const socket = net.connect({ host: c.reflector!.host, port: c.reflector!.port, localPort: c.localPort })
  socket.on('error', () => {})
  const line = await firstLine(socket, 3000)
  if (line === undefined) { socket.destroy(); return { ok: false } }
  observing.set(c.localPort!, socket)
  const [host, port] = line.split(' ')
  return { ok: true, host, port: Number(port) }
}

async function punch (c: Command): Promise<object> {
  const started = Date.now()
  let attempts = 0
  try {
    const socket = await simultaneousOpen({
      localPort: c.localPort!,
      remote: c.remote!,
      attempts: c.attempts,
      interval: c.interval,
      attemptTimeout: c.attemptTimeout,
      onAttempt: (n) => { attempts = n }
    })
    const ms = Date.now() - started
    socket.on('error', () => {})
    socket.write(`hello from ${c.localPort!}\n`)
    const heard = await firstLine(socket, 3000)
    socket.end()
    return { ok: heard !== undefined, attempts, ms, heard }
  } catch (err) {
    return { ok: false, attempts, ms: Date.now() - started, code: (err as { code?: string }).code, message: (err as Error).message }
  } finally {
    observing.get(c.localPort!)?.destroy()
    observing.delete(c.localPort!)
  }
}

async function dial (c: Command): Promise<object> {
  return await new Promise((resolve) => {
    const s = net.connect({ host: c.host ?? '', port: c.port ?? 0 })
    let text = ''
    const done = (r: object): void => { s.destroy(); resolve(r) }
    s.setTimeout(c.timeout ?? 1000, () => { done({ ok: false }) })
    s.on('data', (b) => { text += b.toString('utf8') })
    s.on('end', () => { done({ ok: true, text }) })
    s.on('error', () => { done({ ok: false }) })
  })
}

const handlers = { reflect, observe, punch, dial }

createInterface({ input: process.stdin }).on('line', (line) => {
  let c: Command
  try { c = JSON.parse(line) as Command } catch { return }
  const handler = handlers[c.cmd]
  if (handler === undefined) { print({ id: c.id, ok: false, message: `unknown command ${String(c.cmd)}` }); return }
  handler(c).then((r) => { print({ id: c.id, ...r }) }, (err: Error) => { print({ id: c.id, ok: false, message: err.message }) })
}).on('close', () => { process.exit(0) })

print({ type: 'ready' })
