// ESLint flat config: type-aware rules from typescript-eslint plus the architecture's import boundaries
// (DESIGN.md floors; STYLE.md lint rules).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'net',
  'http',
  'https',
  'child_process',
  'os',
  'path',
  'crypto',
  'worker_threads',
  'dgram',
  'tls',
];
const builtinPatterns = nodeBuiltins.flatMap((m) => [m, `node:${m}`, `${m}/*`, `node:${m}/*`]);

// The floors of the README: a folder imports from its own floor and the floors below, never from above, and never
// from the tooling kept apart (scripts, benchmarks, chaos, tests).
const FLOORS = [
  ['events', 'config'],
  ['kafka', 'temporal', 'observability', 'layout'],
  ['activities', 'replay', 'simulator'],
  ['workflows', 'worker', 'client'],
  ['ingest', 'api'],
  ['cli', 'web'],
];
const APART = ['scripts', 'bench', 'chaos', 'test'];
/** no-restricted-imports patterns for a folder on floor `floor` (0-based), plus the folder's own `extra` ones. */
function floorPatterns(floor, extra = []) {
  const above = FLOORS.slice(floor + 1).flat();
  const forbidden = [...above, ...APART];
  return [
    ...forbidden.map((folder) => ({
      group: [`../${folder}`, `../${folder}/**`, `../../${folder}`, `../../${folder}/**`],
      message: `${FLOORS.flat().includes(folder) ? `${folder}/ is on a higher floor` : `${folder}/ is tooling, apart from the product`}: see the floors table in the README.`,
    })),
    ...extra,
  ];
}
/** One config block per folder, so the floors rule and a folder's own import rules form one pattern list. */
function floorBlocks(extraByFolder) {
  return FLOORS.flatMap((folders, floor) =>
    folders.map((folder) => ({
      files: [`${folder}/**/*.ts`],
      ignores: ['**/*.test.ts', ...(folder === 'cli' ? ['cli/dev.ts'] : [])],
      rules: { 'no-restricted-imports': ['error', { patterns: floorPatterns(floor, extraByFolder[folder] ?? []) }] },
    })),
  );
}
const pureCore = [
  { group: ['@temporalio/*', 'kafkajs'], message: 'events/ is pure: no Temporal or Kafka imports.' },
  { group: builtinPatterns, message: 'events/ is pure: no Node I/O.' },
];
const sandbox = [
  {
    group: ['kafkajs', '@temporalio/worker', '@temporalio/client', '@temporalio/activity'],
    message: 'Not in the workflow sandbox.',
  },
  { group: builtinPatterns, message: 'No Node built-ins in the workflow sandbox.' },
  {
    group: ['**/activities/*', '!**/activities/*'],
    message: 'Import activity types only (import type).',
    allowTypeImports: true,
  },
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'coverage/',
      'out/',
      '.cache/',
      '.data/',
      '**/*.js',
      '!web/**/*.js',
      '**/*.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // Floors for every product folder; the pure core also gets no Temporal, Kafka or Node I/O, and the workflow
  // sandbox no Node built-ins, no kafkajs and activities by type only. `cli/dev.ts` (`rollout dev`) starts the local
  // servers through scripts/: the one product file allowed to reach the tooling.
  ...floorBlocks({ events: pureCore, config: pureCore, workflows: sandbox }),
  {
    // The pure core: time arrives in the input, no randomness.
    files: ['events/**/*.ts', 'config/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'Time arrives in the input, never from the clock.',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Time arrives in the input, never from the clock.',
        },
        {
          selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']",
          message: 'The core is deterministic.',
        },
      ],
    },
  },
  {
    // The web console (`web/`, served by `rollout serve`): plain ES modules for the browser, no build step, so no
    // type information; the recommended rules, and the libraries only as the files under ./vendor/ the server serves.
    files: ['web/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'fetch',
          'sessionStorage',
          'history',
          'URL',
          'URLSearchParams',
          'Blob',
          'TextDecoder',
          'AbortController',
          'AbortSignal',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
        ].map((name) => [name, 'readonly']),
      ),
    },
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./).*',
              message: 'The console loads only its own files and ./vendor/ (no bare specifiers, no CDN).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
