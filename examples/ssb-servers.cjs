// For an SSB developer (CommonJS, secret-stack): the plugin in four servers, its options in the
// config section as any SSB plugin's, failed dials read as a pull-stream. Server `a` knows the
// three others and one address where nobody listens; it keeps between 1 and 2 connections.
//
// npm install peerwarden secret-stack ssb-caps ssb-keys pull-stream
const assert = require('node:assert/strict')
const SecretStack = require('secret-stack')
const caps = require('ssb-caps')
const ssbKeys = require('ssb-keys')
const pull = require('pull-stream')
const { plugin } = require('peerwarden/ssb')

const App = SecretStack({ global: { caps } }).use(plugin)
const server = () => App({
  global: { keys: ssbKeys.generate(), host: '127.0.0.1', timers: { inactivity: 0 } },
  peerwarden: { lowWater: 1, highWater: 2, autostart: true } // nothing is dialled before start without autostart
})
const servers = [server(), server(), server(), server()]
const listening = (s) => new Promise((resolve) => s.once('multiserver:listening', resolve))
const closed = (s) => new Promise((resolve) => s.close(true, resolve))

async function main () {
  await Promise.all(servers.map(listening))
  const [a, ...rest] = servers
  const nobody = `net:127.0.0.1:1~shs:${ssbKeys.generate().public.replace('.ed25519', '')}`
  a.peerwarden.peers.add([...rest.map((s) => ({ address: s.getAddress() })), { address: nobody }])
  pull(a.peerwarden.connection.errors(), pull.drain(({ peer, error }) => console.log(`dialling ${peer} failed: ${error.message}`)))
  await new Promise((resolve) => a.peerwarden.manager.events.addEventListener('peer:connected', resolve, { once: true }))
  const { connections } = a.peerwarden.manager.stats()
  console.log(`a holds ${connections} of ${a.peerwarden.peers.list().length} known peers`)
  assert.ok(connections >= 1 && connections <= 2)
  await Promise.all(servers.map(closed))
}
main().catch((err) => { console.error(err); process.exitCode = 1 })
