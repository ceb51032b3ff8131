import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { promisify } from 'node:util'

// Regression: SecureStream.lastRead and SealedWriter.lastWrite were bare class fields (undefined until
// the constructor), so V8 kept them tagged and every keep-alive boxed its Date.now() into a new heap
// number that lived until the next one (9 s): a holder of 5,000 idle connections promoted ~35 KB per
// scavenge into its old generation and ran major GCs of its whole heap while idle. A child process
// with V8's --trace-generalization shows how each field is stored once real timestamps went through
// (--no-sparkplug: the trace fails a check of V8's when it prints a baseline frame).

const run = promisify(execFile)

const CHILD = `
import net from 'node:net'
import { once } from 'node:events'
const { SecureStream } = await import(process.argv[1])
const { staticKeys } = await import(process.argv[2])
const { loadIdentity } = await import(process.argv[3])
const { NetworkKey } = await import(process.argv[4])
const server = net.createServer()
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const accepted = once(server, 'connection')
const aSocket = net.connect(server.address().port, '127.0.0.1')
const [bSocket] = await accepted
const psk = new NetworkKey().psk
const a = new SecureStream(true, aSocket, { keys: staticKeys(loadIdentity({ seed: 'a' })), psk, payload: () => Buffer.from('a') })
const b = new SecureStream(false, bSocket, { keys: staticKeys(loadIdentity({ seed: 'b' })), psk, payload: () => Buffer.from('b') })
await Promise.all([a.opened, b.opened])
let heard = 0
b.keepAliveListener = { heard: () => { heard++ } }
for (let i = 0; i < 5; i++) { a.keepAlive(); await new Promise((resolve) => setTimeout(resolve, 5)) }
while (heard < 5) await new Promise((resolve) => setTimeout(resolve, 5))
console.log('heard', heard, typeof b.lastRead, typeof a.lastWrite)
a.destroy(); b.destroy(); server.close()
`

test('a keep-alive stores its timestamps in place: lastRead and lastWrite stay double fields, never tagged (V8 boxes every store of a tagged one)', { timeout: 30_000 }, async () => {
  const url = (p: string): string => new URL(p, import.meta.url).href
  const { stdout } = await run(process.execPath, [
    '--trace-generalization', '--no-sparkplug', '--input-type=module', '-e', CHILD,
    url('../../src/node/secure-stream.js'), url('../../src/node/noise.js'), url('../../src/node/identity.js'), url('../../src/node/network-key.js')
  ], { timeout: 25_000, maxBuffer: 64 * 1024 * 1024 })
  assert.match(stdout, /heard 5 number number/, 'the keep-alives went through')
  const lines = stdout.split('\n').filter((l) => /^\[generalizing\](lastRead|lastWrite):/.test(l))
  assert.ok(lines.length > 0, 'V8 traced the timestamp fields')
  for (const l of lines) assert.doesNotMatch(l, /->t\{/, `stored tagged (a heap number per store): ${l}`)
  assert.ok(lines.some((l) => /->d\{/.test(l)), `a double field: ${lines.join(' | ')}`)
})
