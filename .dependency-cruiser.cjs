/**
 * The import rules of the code base (`npm run lint` runs them, with ESLint).
 *
 * Layers, bottom up; a layer imports only from the layers below it:
 *
 *   core       src/manager, src/errors.ts, src/clock.ts (the default wall clock the manager falls back to),
 *              src/logger.ts (the logger interface and a small logger)
 *   store      src/store                    core
 *   testing    src/testing                  core, store (the simulation's memory store)
 *   node       src/node                     core, store (the node's data directory)
 *   mesh       src/mesh                     core, node
 *   adapters   src/adapters                 core
 *   dashboard  src/dashboard                core
 *   lab        src/lab                      core, store, node (real nodes on emulated hosts); its
 *                                           runners of the other stacks (runner-hyperswarm.ts,
 *                                           runner-libp2p.ts) also the adapters they run
 *   top        src/cli, src/index.ts        anything
 *
 * The manager also imports no node built-in (no I/O, no timers: time comes from the injected Clock);
 * the one exception is `node:events` in src/manager/events.ts (`getEventListeners`, to count listeners).
 * src imports nothing from test/ or bench/, and no package that is only a devDependency unless it is
 * also a peerDependency (the libp2p adapter's types).
 */
const layer = (name, comment, from, forbidden) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from },
  to: { path: `^src/(${forbidden.join('|')})` }
})

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle of run-time imports: split the module, or move what both need one layer down.',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } }
    },
    {
      name: 'no-circular-types',
      comment: 'A cycle through type-only imports: harmless at run time, but it ties the files together.',
      severity: 'warn',
      from: {},
      to: { circular: true, via: { dependencyTypes: ['type-only'] } }
    },
    layer('core-imports-core-only', 'The core (src/manager, errors, clock) is the bottom layer.',
      '^src/(manager/|errors\\.ts$|clock\\.ts$|logger\\.ts$)', ['store', 'testing', 'node', 'mesh', 'adapters', 'dashboard', 'cli', 'lab', 'index\\.ts$']),
    layer('store-imports-core-only', 'src/store sits on the core only.',
      '^src/store/', ['testing', 'node', 'mesh', 'adapters', 'dashboard', 'cli', 'lab', 'index\\.ts$']),
    layer('testing-imports-core-and-store', 'src/testing (the in-memory network, manual clock) sits on the core and store.',
      '^src/testing/', ['node', 'mesh', 'adapters', 'dashboard', 'cli', 'lab', 'index\\.ts$']),
    layer('node-imports-core-and-store', 'src/node sits on the core and store; the mesh and adapters sit on it, not the reverse.',
      '^src/node/', ['testing', 'mesh', 'adapters', 'dashboard', 'cli', 'lab', 'index\\.ts$']),
    layer('mesh-imports-node-and-core', 'src/mesh sits on the node and the core.',
      '^src/mesh/', ['testing', 'adapters', 'dashboard', 'cli', 'lab', 'index\\.ts$']),
    layer('adapters-import-core-only', 'An adapter plugs the core into another network stack; it uses neither our node nor the mesh.',
      '^src/adapters/', ['store', 'testing', 'node', 'mesh', 'dashboard', 'cli', 'lab', 'index\\.ts$']),
    layer('lab-imports-node-store-core', 'src/lab runs real nodes on emulated hosts: it sits on the node, the store and the core.',
      '^src/lab/(?!runner-(hyperswarm|libp2p)\\.ts$)', ['testing', 'mesh', 'adapters', 'dashboard', 'cli', 'index\\.ts$']),
    layer('lab-runners-import-their-adapter', 'A lab runner of another stack runs that stack under its adapter (side by side with the node).',
      '^src/lab/runner-(hyperswarm|libp2p)\\.ts$', ['testing', 'mesh', 'dashboard', 'cli', 'index\\.ts$']),
    layer('dashboard-imports-core-only', 'The dashboard observes a manager through its public surface.',
      '^src/dashboard/', ['store', 'testing', 'node', 'mesh', 'adapters', 'cli', 'lab', 'index\\.ts$']),
    {
      name: 'manager-no-builtins',
      comment: 'src/manager does no I/O and reads no time: the Clock, random and the transport are injected.',
      severity: 'error',
      from: { path: '^src/manager/', pathNot: '^src/manager/events\\.ts$' },
      to: { dependencyTypes: ['core'] }
    },
    {
      name: 'manager-events-only-events',
      comment: 'src/manager/events.ts may use node:events (getEventListeners) and nothing else built in.',
      severity: 'error',
      from: { path: '^src/manager/events\\.ts$' },
      to: { dependencyTypes: ['core'], pathNot: '^(node:)?events$' }
    },
    {
      name: 'src-not-to-test',
      comment: 'The package does not ship test/ or bench/.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' }
    },
    {
      name: 'src-not-to-dev-dep',
      comment: 'A devDependency is not installed for users: src may use it only if it is also a peerDependency.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['npm-peer', 'type-only'] }
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve to a file or a package (the package\'s own name resolves to dist/, built later).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, pathNot: '^peerwarden(/|$)' }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs']
    }
  }
}
