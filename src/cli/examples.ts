/**
 * The examples each `--help` ends with, by command path ('' is `peerwarden` itself): commands to
 * copy as they are (every address on 127.0.0.1, every file under the current directory).
 */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  '': [
    'peerwarden node --topic chat                  # a node on 127.0.0.1, joining the topic "chat"',
    'peerwarden simulate --nodes 1000 --minutes 3  # 1,000 managers in virtual time',
    'peerwarden mesh status --registry tcp://127.0.0.1:4100#<registry id>',
    'peerwarden lab list                           # the lab\'s scenarios (Linux, root)'
  ],
  node: [
    'peerwarden node --listen tcp://127.0.0.1:4001 --topic chat --dashboard',
    'peerwarden node --bootstrap tcp://127.0.0.1:4001#<id> --topic chat --data-dir \'\'   # a second node, nothing on disk',
    'peerwarden node --high-water 64 --deny 10.0.0.0/8 --metrics 127.0.0.1:9464'
  ],
  simulate: [
    'peerwarden simulate --nodes 1000 --minutes 3',
    'peerwarden simulate --nodes 10000 --minutes 3 --seed 1 --json > run.jsonl',
    'peerwarden simulate --nodes 300 --minutes 5 --restart 0.2 --report run.html'
  ],
  mesh: [
    'peerwarden mesh status --registry tcp://127.0.0.1:4100#<registry id>',
    'peerwarden mesh call Greeter.hello \'{"name":"Ada"}\' --registry tcp://127.0.0.1:4100#<registry id>'
  ],
  'mesh status': [
    'peerwarden mesh status --registry tcp://127.0.0.1:4100#<registry id>',
    'PEERWARDEN_MESH_REGISTRY=tcp://127.0.0.1:4100#<registry id> peerwarden mesh status --json'
  ],
  'mesh call': [
    'peerwarden mesh call Greeter.hello \'{"name":"Ada"}\' --registry tcp://127.0.0.1:4100#<registry id>',
    'peerwarden mesh call Jobs.submit \'{"n":1}\' --role Api --schema ./schema.js --registry tcp://127.0.0.1:4100#<registry id>'
  ],
  lab: [
    'peerwarden lab list',
    'sudo peerwarden lab churn --stack peerwarden,libp2p   # a scenario, two stacks side by side',
    'sudo peerwarden lab clean'
  ]
}

/** The help text after the options: "Examples:" and one `$ command` a line. */
export function examplesText (lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`
}
