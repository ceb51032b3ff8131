// A compact node:test reporter (node --test --test-reporter=./scripts/test-reporter.mjs):
// one line per test file as it finishes, one line per failing test as it fails, then every failure
// in full (the error with its stack, expected and actual, and the file's own output), then a summary
// (files, tests, passed, failed, skipped, todo, duration).
//
// Counts are of tests, not of suites nor of the per-file wrapper; a test that failed only because
// a subtest failed is not counted twice. With CI=true a skipped test fails the run (CI is where every
// test must run: .ci/run installs what the skipping tests need).
import { relative } from 'node:path'
import { inspect } from 'node:util'

const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined
const paint = (code) => (s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s)
const red = paint('31')
const green = paint('32')
const yellow = paint('33')
const dim = paint('2')
const bold = paint('1')

/** build/test/node/node.test.js → test/node/node.test.ts (the file a reader opens). */
function shown (file) {
  if (file === undefined) return '(no file)'
  const rel = relative(process.cwd(), file)
  const m = /^build\/(.*)\.js$/.exec(rel)
  return m === null ? rel : `${m[1]}.ts`
}

function ms (d) {
  if (d < 1000) return `${Math.round(d)} ms`
  if (d < 60_000) return `${(d / 1000).toFixed(1)} s`
  return `${Math.floor(d / 60_000)} min ${Math.round((d % 60_000) / 1000)} s`
}

/** The error a failing test reports: node wraps the thrown value (`cause`) in a test-runner error. */
function thrown (error) {
  if (error === undefined || error === null) return error
  const cause = error.cause
  if (error.code !== 'ERR_TEST_FAILURE' || cause === undefined || cause === null) return error
  return typeof cause === 'string' && cause === error.message ? error : cause
}

function oneLine (e) {
  const text = e instanceof Error ? `${e.name}: ${e.message}` : inspect(e)
  const line = text.split('\n').find((l) => l.trim() !== '') ?? text
  // An assertion's message may say only "Expected values to be strictly equal:": add the values.
  if (e instanceof Error && e.code === 'ERR_ASSERTION' && 'actual' in e && text.includes('\n')) {
    const short = (v) => inspect(v, { breakLength: Infinity, depth: 2, maxArrayLength: 5, maxStringLength: 60 })
    return `${line} actual ${short(e.actual)}, expected ${short(e.expected)}`
  }
  return line
}

function firstLine (error) {
  const e = thrown(error)
  // A hook's failure or a timeout: say so before the cause.
  const prefix = e !== error && error?.failureType !== 'testCodeFailure' ? `${error.message}: ` : ''
  const line = prefix + oneLine(e)
  return line.length > 200 ? line.slice(0, 197) + '...' : line
}

/** test/x.test.ts:12, or test/x.test.ts (test/helper.ts:12) for a test declared in a helper. */
function where (failure) {
  const line = failure.line === undefined ? '' : `:${failure.line}`
  if (failure.at === undefined || failure.at === failure.file) return `${shown(failure.file)}${line}`
  return `${shown(failure.file)} (${shown(failure.at)}${line})`
}

/**
 * What a file that ran out of time (scripts/test.mjs's per-file timeout) was doing: the tests begun
 * and not finished, innermost last, or — when every test had finished — a process kept alive.
 */
function stuck (f, error) {
  if (error?.failureType !== 'testTimeoutFailure') return ''
  if (f.open.length === 0) return ': every test had finished, but its process did not exit (a socket, timer, child process or worker left open)'
  // A suite then its tests (' › '), tests running side by side (', ').
  return `: still running ${f.open.map((o, i) => `${i === 0 ? '' : o.nesting > f.open[i - 1].nesting ? ' › ' : ', '}"${o.name}"`).join('')}`
}

function newFile () {
  // `open`: the tests begun and not finished (nesting and name), to say which one a timed-out file was in.
  return { tests: 0, passed: 0, failed: 0, skipped: 0, todo: 0, cancelled: 0, names: [], open: [], output: [], failures: [] }
}

export default async function * compactReporter (source) {
  const started = Date.now()
  const files = new Map()
  const failures = []
  const totals = { files: 0, failedFiles: 0, tests: 0, passed: 0, failed: 0, skipped: 0, todo: 0, cancelled: 0 }
  // Test files being run (dequeued, not complete). A test declared in a helper module (a shared
  // suite) reports the helper as its file: it belongs to the one test file running, if only one is.
  const running = []
  // scripts/test.mjs runs each file on its own and says which one an event came from (`runFile`).
  const owner = (file, runFile) => runFile ?? (running.includes(file) || running.length !== 1 ? file : running[0])
  const fileOf = (file, runFile) => {
    const key = owner(file, runFile)
    let f = files.get(key)
    if (f === undefined) { f = newFile(); files.set(key, f) }
    return f
  }

  for await (const { type, data } of source) {
    switch (type) {
      case 'test:dequeue': {
        if (data.nesting === 0 && data.name === data.file) {
          if (!running.includes(data.file)) running.push(data.file)
        } else fileOf(data.file, data.runFile).open.push({ nesting: data.nesting, name: data.name })
        break
      }
      case 'test:start': {
        fileOf(data.file, data.runFile).names[data.nesting] = data.name
        break
      }
      case 'test:stdout':
      case 'test:stderr': {
        fileOf(data.file, data.runFile).output.push(data.message)
        break
      }
      case 'test:pass':
      case 'test:fail': {
        // The per-file wrapper (name = the file's path) is handled by its test:complete below.
        if (data.nesting === 0 && data.name === data.file) break
        const f = fileOf(data.file, data.runFile)
        const error = data.details?.error
        const failureType = error?.failureType
        const isSuite = data.details?.type === 'suite'
        // A test or suite that failed only because a subtest did is not a failure of its own.
        if (type === 'test:fail' && failureType === 'subtestsFailed') break
        if (isSuite && type === 'test:pass') break
        if (!isSuite) f.tests++
        if (data.todo !== undefined && data.todo !== false) f.todo++
        else if (data.skip !== undefined && data.skip !== false) f.skipped++
        else if (type === 'test:pass') f.passed++
        else if (failureType === 'cancelledByParent') f.cancelled++
        else {
          // A failing test, or a suite that failed by itself (a hook, an error while declaring its tests).
          f.failed++
          const failure = { file: owner(data.file, data.runFile), path: [...f.names.slice(0, data.nesting), data.name], error, line: data.line, at: data.file }
          f.failures.push(failure)
          failures.push(failure)
          yield `${red('✖')} ${where(failure)} › ${failure.path.join(' › ')}: ${firstLine(error)}\n`
        }
        break
      }
      case 'test:complete': {
        if (data.nesting !== 0 || data.name !== data.file) {
          // node:test reports a test begun (dequeue) at once, its start and result only once it ends.
          const open = fileOf(data.file, data.runFile).open
          const i = open.findIndex((o) => o.nesting === data.nesting && o.name === data.name)
          if (i !== -1) open.splice(i, 1)
          break
        }
        const f = fileOf(data.file, data.runFile)
        running.splice(running.indexOf(data.file), 1)
        f.done = true
        const error = data.details?.error
        if (data.details?.passed === false && error?.failureType !== 'subtestsFailed') {
          // The file itself failed: it did not load, timed out, or its process exited badly.
          f.failed++
          const failure = { file: data.file, path: [`the file itself failed (${error?.failureType ?? 'unknown'})${stuck(f, error)}`], error }
          f.failures.push(failure)
          failures.push(failure)
          yield `${red('✖')} ${shown(data.file)} › ${failure.path[0]}: ${firstLine(error)} (its output is printed below)\n`
        }
        totals.files++
        for (const k of ['tests', 'passed', 'failed', 'skipped', 'todo', 'cancelled']) totals[k] += f[k]
        const bad = f.failed > 0 || f.cancelled > 0 || data.details?.passed === false
        if (bad) totals.failedFiles++
        else f.output = [] // kept only to print with a failure
        const parts = [`${f.tests} ${f.tests === 1 ? 'test' : 'tests'}`]
        if (f.failed > 0) parts.push(red(`${f.failed} failed`))
        if (f.cancelled > 0) parts.push(red(`${f.cancelled} cancelled`))
        if (f.skipped > 0) parts.push(yellow(`${f.skipped} skipped`))
        if (f.todo > 0) parts.push(yellow(`${f.todo} todo`))
        yield `${bad ? red('✖') : green('✔')} ${shown(data.file)} ${dim(`(${parts.join(', ')}; ${ms(data.details?.duration_ms ?? 0)})`)}\n`
        break
      }
      default:
        break
    }
  }

  // Tests no running file could own (several files at once running a shared suite): still counted.
  for (const [file, f] of files) {
    if (f.done === true || f.tests + f.failed === 0) continue
    totals.files++
    for (const k of ['tests', 'passed', 'failed', 'skipped', 'todo', 'cancelled']) totals[k] += f[k]
    if (f.failed > 0 || f.cancelled > 0) totals.failedFiles++
    yield `${f.failed > 0 ? red('✖') : green('✔')} ${shown(file)} ${dim(`(${f.tests} tests declared here, run by several files at once)`)}\n`
  }

  if (failures.length > 0) {
    yield `\n${bold(red(`Failures (${failures.length})`))}\n`
    const printedOutput = new Set()
    for (const [i, failure] of failures.entries()) {
      yield `\n${bold(`${i + 1}) ${where(failure)}`)}\n   ${failure.path.join(' › ')}\n\n`
      const e = thrown(failure.error)
      if (e !== failure.error && failure.error.failureType !== 'testCodeFailure') yield `   ${failure.error.message}\n`
      yield inspect(e, { depth: 6, colors: color }).replace(/^/gm, '   ') + '\n'
      const f = files.get(failure.file)
      if (f !== undefined && f.output.length > 0 && !printedOutput.has(failure.file)) {
        printedOutput.add(failure.file)
        yield `\n   ${dim(`output of ${shown(failure.file)}:`)}\n` + f.output.join('').replace(/^/gm, '   | ') + '\n'
      }
    }
  }

  const skippedOnCi = process.env.CI === 'true' && totals.skipped > 0
  const ok = totals.failed === 0 && totals.cancelled === 0 && totals.failedFiles === 0 && !skippedOnCi
  const line = [
    `files ${totals.files}${totals.failedFiles > 0 ? red(` (${totals.failedFiles} failed)`) : ''}`,
    `tests ${totals.tests}`,
    green(`passed ${totals.passed}`),
    (totals.failed > 0 ? red : (s) => s)(`failed ${totals.failed}`),
    ...(totals.cancelled > 0 ? [red(`cancelled ${totals.cancelled}`)] : []),
    (totals.skipped > 0 ? yellow : (s) => s)(`skipped ${totals.skipped}`),
    `todo ${totals.todo}`,
    `duration ${ms(Date.now() - started)}`
  ].join(' · ')
  yield `\n${ok ? green('✔') : red('✖')} ${line}\n`
  if (skippedOnCi) {
    yield red(`CI=true: ${totals.skipped} skipped test(s) count as failures (on CI every test must run).\n`)
    process.exitCode = 1
  }
}
