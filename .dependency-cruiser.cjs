/** Imports flow one way: shared types/errors/clock/config <- machines/ <- actors/ <- public API, CLI, inspector. */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles anywhere.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'machines-are-pure',
      severity: 'error',
      comment: 'machines/ imports xstate and shared types only: no I/O, no actors, no store.',
      from: { path: '^machines/' },
      to: {
        path: '^(actors/|src/store/|src/(logging|demo|cli|inspect)|node_modules/(better-sqlite3|piscina|pg|pino)/)',
      },
    },
    {
      name: 'machines-no-node-builtins',
      severity: 'error',
      from: { path: '^machines/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'infrastructure-does-not-import-actors',
      severity: 'error',
      comment: 'Only the public API, the CLI, the inspector and the demo stand on actors/.',
      from: { path: '^src/', pathNot: '^src/(index\\.ts|cli/|inspect/|demo/)' },
      to: { path: '^actors/' },
    },
    {
      name: 'store-is-below-actors',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: '^(actors/|src/index\\.ts)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
