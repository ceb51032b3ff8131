import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { PeerwardenError } from '../errors.js'
import { cleanLab } from './clean.js'
import { formatPair, punchMatrix } from './punch.js'
import { renderComparison, renderReport } from './report.js'
import { runLab, type LabResult } from './run.js'
import { checkScenario, listScenarios, loadScenario, STACKS } from './scenario.js'
import type { LabStack } from './samples.js'
import { labUnsupported } from './shell.js'

function stacks (value: string): LabStack[] {
  const list = value === 'all' ? [...STACKS] : value.split(',').map((x) => x.trim())
  for (const x of list) if (!STACKS.includes(x as LabStack)) throw new InvalidArgumentError(`--stack must be ${STACKS.join(', ')}, a comma-separated list of them or all`)
  return [...new Set(list)] as LabStack[]
}

function positive (name: string): (value: string) => number {
  return (value) => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be an integer >= 1`)
    return n
  }
}

/** Writes result.json and report.html of a run into `dir` (made if missing); returns the report's path. */
export function writeRun (result: LabResult, dir: string): string {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'result.json'), JSON.stringify(result, null, 1) + '\n')
  const report = join(dir, 'report.html')
  writeFileSync(report, renderReport(result))
  return report
}

/**
 * `peerwarden lab <scenario|file.json|list|clean>`: runs a scenario on emulated hosts (root, Linux)
 * and writes its report, lists the scenarios that come with the repository, or removes what runs
 * that died left behind (`clean`; `--all` also the namespaces of runs still going).
 */
export function labCommand (out: (line: string) => void = (l) => { process.stdout.write(l + '\n') }): Command {
  return new Command('lab')
    .description('run a scenario on emulated hosts (network namespaces; Linux, root): `lab list`, `lab clean`, `lab punch`, `lab <scenario>`')
    .argument('<scenario>', 'a scenario name (lab list), a path to a scenario .json, `list`, `clean` or `punch` (hole punching per NAT kind)')
    .option('--out <dir>', 'where the report and its JSON go (default lab-results/<scenario>-<time>)')
    .option('--nodes <n>', 'override the scenario\'s node count', positive('--nodes'))
    .option('--hosts <n>', 'override the scenario\'s host count', positive('--hosts'))
    .option('--duration <s>', 'override the scenario\'s duration (seconds after every node started)', positive('--duration'))
    .option('--stack <stacks>', `what the nodes run: ${STACKS.join(', ')}; several (comma-separated, or all) run one after another and are compared side by side`, stacks)
    .option('--concurrency <n>', 'node processes started at once while the lab comes up (default 4)', positive('--concurrency'))
    .option('--all', 'with clean: also the namespaces of runs still going')
    .option('--tries <n>', 'with punch: punches per pair of NAT kinds (default 10)', positive('--tries'))
    .action(async (name: string, o: { out?: string; nodes?: number; hosts?: number; duration?: number; all?: boolean; tries?: number; stack?: LabStack[]; concurrency?: number }) => {
      if (name === 'list') {
        for (const s of listScenarios()) {
          const sc = loadScenario(s)
          out(`${s.padEnd(16)} ${sc.nodes} nodes on ${sc.hosts} hosts, ${sc.duration} s: ${sc.description}`)
        }
        return
      }
      const why = labUnsupported()
      if (why !== undefined) throw new PeerwardenError('ERR_LAB', why)
      if (name === 'clean') {
        const removed = await cleanLab({ all: o.all === true })
        out(removed.length === 0 ? 'nothing to clean' : `removed ${removed.join(', ')}`)
        return
      }
      if (name === 'punch') {
        out('TCP hole punch (simultaneous open) per pair of NAT kinds; mappings learnt from a reflector host')
        for (const r of await punchMatrix({ tries: o.tries ?? 10 })) out(formatPair(r))
        return
      }
      const base = loadScenario(name)
      const override = { ...(o.nodes !== undefined ? { nodes: o.nodes } : {}), ...(o.hosts !== undefined ? { hosts: o.hosts } : {}), ...(o.duration !== undefined ? { duration: o.duration } : {}) }
      const list = o.stack ?? [base.stack]
      const results: LabResult[] = []
      const stamp = new Date().toISOString().replace(/[:.]/g, '-')
      const root = resolve(o.out ?? join('lab-results', `${base.name}-${stamp}`))
      for (const stack of list) {
        const scenario = checkScenario({ ...base, ...override, stack })
        const result = await runLab(scenario, { progress: out, ...(o.concurrency !== undefined ? { startConcurrency: o.concurrency } : {}) })
        results.push(result)
        const m = result.measures
        out(`${stack}: converged after ${m.convergedAfter === null ? 'never' : `${(m.convergedAfter / 1000).toFixed(1)} s`}; most connections ${m.maxConnections} (highWater ${scenario.highWater}); dials ${m.dials} (${m.dialsFailed} failed)`)
        for (const p of m.partitions) out(`${stack}: partition of hosts ${p.hosts.join(',')}: detected after ${p.detectedAfter ?? 'never'} ms, healed ${p.healedAfter ?? 'never'} ms after the link returned`)
        out(`report: ${writeRun(result, list.length === 1 ? root : join(root, stack))}`)
      }
      if (results.length > 1) {
        mkdirSync(root, { recursive: true })
        writeFileSync(join(root, 'compare.html'), renderComparison(results))
        out(`side by side: ${join(root, 'compare.html')}`)
      }
    })
}
