// SSB applications are CommonJS: peerwarden/ssb, as built (dist/), required from a .cjs file next
// to secret-stack, drives two real servers on 127.0.0.1. Needs `npm run build` first.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePorts } from './ssb-servers.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))

test('require("peerwarden/ssb") from CommonJS: the plugin in two secret-stack servers, and Manager({ connectToPeer })', { timeout: 40_000 }, async (t) => {
  assert.ok(existsSync(join(root, 'dist/adapters/ssb.js')), 'dist is built (npm run build)')
  // Inside the package, so that `require('peerwarden/ssb')` resolves to it by self-reference.
  const dir = mkdtempSync(join(root, 'build', 'ssb-cjs-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const [pa, pb] = await freePorts(2)
  writeFileSync(join(dir, 'app.cjs'), `
    const SecretStack = require('secret-stack')
    const caps = require('ssb-caps')
    const ssbKeys = require('ssb-keys')
    const { plugin, ssbPlugin, Manager, priority } = require('peerwarden/ssb')
    const App = SecretStack({ global: { caps } }).use(plugin)
    const config = (port) => ({ global: { keys: ssbKeys.generate(), host: '127.0.0.1', port, timers: { inactivity: 0 } }, peerwarden: { highWater: 4 } })
    const a = App(config(${pa}))
    const b = App(config(${pb}))
    const out = { same: plugin === ssbPlugin, highWater: a.peerwarden.manager.stats().highWater, MED: priority.MED }
    let listening = 0
    const ready = () => {
      if (++listening < 2) return
      a.peerwarden.manager.events.addEventListener('peer:connected', (e) => {
        out.connected = e.detail.peer === b.id
        const standalone = Manager({ connectToPeer: a.connect })
        standalone.peers.add([{ address: b.getAddress() }])
        out.standaloneKnows = standalone.peers.list().map((p) => p.id)[0] === b.id
        standalone.close().then(() => a.close(true, () => b.close(true, () => { console.log(JSON.stringify(out)) })))
      })
      a.peerwarden.peers.add([{ address: b.getAddress() }])
      a.peerwarden.connections.start()
    }
    a.on('multiserver:listening', ready)
    b.on('multiserver:listening', ready)
  `)
  const r = spawnSync(process.execPath, [join(dir, 'app.cjs')], { cwd: dir, encoding: 'utf8', timeout: 30_000 })
  assert.equal(r.status, 0, `app.cjs failed:\n${r.stdout}${r.stderr}`)
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1)!), { same: true, highWater: 4, MED: 'medium', connected: true, standaloneKnows: true })
})
