// The lint rules of the code base: `npm run lint` (with dependency-cruiser, .dependency-cruiser.cjs),
// `npm run format` (applies the layout rules), `npm run format:check` (only the layout rules).
//
// `npm run lint:types` adds the type-aware promise rules on src (a floating or misused promise is a
// lost error); they take the better part of a minute, so they run apart (and on CI).
//
// Three parts:
// - correctness: ESLint's and typescript-eslint's recommended rules (not type-aware: the type-aware
//   set takes about a minute on src + test + bench), minus the few the code deliberately breaks;
// - the core's determinism: nothing under src/manager reads the wall clock, the random generator or
//   the timers (they come in through the injected Clock and `random`);
// - layout, in the code's own style ("standard"-like: no semicolons, single quotes, two spaces, a
//   space before a function's parentheses), through @stylistic.
import js from '@eslint/js'
import stylistic from '@stylistic/eslint-plugin'
import tseslint from 'typescript-eslint'

const mode = process.env.PEERWARDEN_LINT // undefined: everything but the type-aware rules
const styleOnly = mode === 'style'

const sources = ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.cjs']

/** Layout rules, chosen to match the existing code (the options that change the fewest lines). */
const layout = {
  files: sources,
  languageOptions: { parser: tseslint.parser },
  plugins: { '@stylistic': stylistic },
  rules: {
    ...stylistic.configs.customize({
      indent: 2,
      quotes: 'single',
      semi: false,
      jsx: false,
      braceStyle: '1tbs',
      commaDangle: 'never',
      arrowParens: true,
      blockSpacing: true
    }).rules,
    '@stylistic/space-before-function-paren': ['error', 'always'],
    '@stylistic/generator-star-spacing': ['error', { before: true, after: true }],
    // Interfaces one member per line without separators; inline object types separated by `;`.
    '@stylistic/member-delimiter-style': ['error', {
      multiline: { delimiter: 'none' },
      singleline: { delimiter: 'semi', requireLast: false },
      multilineDetection: 'brackets'
    }],
    '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
    // Binary operators end the line; a ternary's `?`/`:` and a union's leading `|` start it.
    '@stylistic/operator-linebreak': ['error', 'after', { overrides: { '?': 'before', ':': 'before', '|': 'before' } }],
    '@stylistic/lines-between-class-members': ['error', 'always', { exceptAfterSingleLine: true, exceptAfterOverload: true }],
    // Short guards and bodies on one line (`if (x) { a(); return }`) are the house style.
    '@stylistic/max-statements-per-line': 'off',
    // Tables of tuples and several short fields per line are written on purpose.
    '@stylistic/list-style': 'off',
    // Event maps quote some keys ('peer:connected') and leave others bare; both read fine.
    '@stylistic/quote-props': 'off',
    // `method<T> (a)`: the space before the parentheses comes after the type parameters.
    '@stylistic/type-generic-spacing': 'off'
  }
}

/** Nothing under src/manager reads time, randomness or timers itself. */
const INJECTED = 'src/manager is deterministic: use the injected Clock (clock.now(), clock.setTimeout()) or the injected `random`.'
const determinism = {
  files: ['src/manager/**/*.ts'],
  rules: {
    'no-restricted-globals': ['error',
      ...['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate',
        'performance', 'Date', 'process'].map((name) => ({ name, message: INJECTED }))],
    'no-restricted-properties': ['error',
      { object: 'Math', property: 'random', message: INJECTED },
      { object: 'Date', property: 'now', message: INJECTED },
      { object: 'performance', property: 'now', message: INJECTED },
      ...['globalThis', 'global', 'window', 'self'].flatMap((object) =>
        ['setTimeout', 'setInterval', 'setImmediate', 'performance', 'Date'].map((property) => ({ object, property, message: INJECTED })))]
  }
}

const correctness = [
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: sources,
    languageOptions: {
      globals: Object.fromEntries(['process', 'console', 'Buffer', 'URL', 'setTimeout', 'clearTimeout', 'setInterval',
        'clearInterval', 'setImmediate', 'queueMicrotask', 'AbortController', 'AbortSignal', 'TextEncoder', 'TextDecoder',
        'performance', 'module', 'require', '__dirname'].map((g) => [g, 'readonly']))
    },
    rules: {
      // `catch {}` where a failure is expected and harmless (closing what is already closed).
      'no-empty': ['error', { allowEmptyCatch: true }],
      // Arguments named `_x` are placeholders a signature needs.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // `let x` declared before the closures that assign it once.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'no-new': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-var': 'error',
      'no-throw-literal': 'error',
      'no-self-compare': 'error',
      'no-template-curly-in-string': 'error',
      'no-constructor-return': 'error',
      'array-callback-return': 'error',
      'no-useless-concat': 'error',
      'no-new-wrappers': 'error',
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-proto': 'error',
      'no-extend-native': 'error',
      // `T extends Function` in a validator that only checks `typeof === 'function'`.
      '@typescript-eslint/no-unsafe-function-type': 'off'
    }
  },
  {
    // `any` where the typing of a foreign library (libp2p, Hyperswarm, vendored declarations) or a
    // generic constraint (`Handler<any, any>`) needs it, and in tests and benchmarks.
    files: ['src/adapters/**', 'src/mesh/schema.ts', '**/*.d.ts', 'test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' }
  },
  {
    // CommonJS files load with require (examples/ssb-servers.cjs: SSB applications are CommonJS).
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' }
  },
  {
    // The library reports through events and errors, never the console (the CLI prints).
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: { 'no-console': 'error' }
  },
  determinism
]

/** Type-aware: promises that are neither awaited nor handled, or passed where none is expected. */
const promises = {
  files: ['src/**/*.ts'],
  languageOptions: { parser: tseslint.parser, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  plugins: { '@typescript-eslint': tseslint.plugin },
  linterOptions: { reportUnusedDisableDirectives: 'off' },
  rules: {
    '@typescript-eslint/no-floating-promises': 'error',
    '@typescript-eslint/no-misused-promises': 'error',
    '@typescript-eslint/await-thenable': 'error',
    '@typescript-eslint/only-throw-error': 'error'
  }
}

const ignores = { ignores: ['build/**', 'dist/**', 'node_modules/**', 'docs/**', '.peerwarden/**', 'scratch/**'] }

export default mode === 'types'
  ? [ignores, promises]
  : [
      ignores,
      ...(styleOnly ? [{ linterOptions: { reportUnusedDisableDirectives: 'off' } }] : correctness),
      layout
    ]
