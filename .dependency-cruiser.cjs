// The layering of src/, checked by `npm test` (docs/architecture.md explains it). From the top:
//   cli -> server -> api -> features -> providers -> store -> spec -> shared
// A layer imports only the layers below it. Inside features/, a slice imports only slices of a
// lower rank (FEATURE_RANKS). Tests may import anything: they are not cruised.

/** Features by rank: a slice may import slices of a lower rank, never its own rank or above. */
const FEATURE_RANKS = [
  ['analysis', 'apps', 'auth', 'health', 'notifications', 'revisions'],
  ['incidents'],
  ['database', 'flags'],
  ['rollouts'],
  ['drills'],
];

/** Each layer and the folders of src/ it may import besides its own. */
const LAYERS = [
  { name: 'shared', path: 'shared', may: [] },
  { name: 'spec', path: 'spec', may: ['shared'] },
  { name: 'store', path: 'store', may: ['spec', 'shared'] },
  { name: 'providers', path: 'providers', may: ['providers', 'spec', 'shared'] },
  { name: 'features', path: 'features', may: ['features', 'providers', 'store', 'spec', 'shared'] },
  { name: 'api', path: 'api', may: ['spec', 'shared'] },
  {
    name: 'server',
    path: 'server',
    may: ['api', 'features', 'providers', 'store', 'spec', 'shared'],
  },
  {
    name: 'cli',
    path: 'cli',
    // A client of the API: its types come from api/, never from the store. It starts the server
    // (`rewind server`) and runs the database commands that work on files locally (features).
    may: ['server', 'api', 'features', 'spec', 'shared'],
  },
];

const layerRules = LAYERS.map((layer) => ({
  name: `layer-${layer.name}`,
  comment: `src/${layer.name} may import only ${layer.may.length ? layer.may.join(', ') : 'nothing else in src/'}: a lower layer never reaches up`,
  severity: 'error',
  from: { path: `^src/${layer.path}/` },
  to: { path: '^src/', pathNot: `^src/(${[layer.path, ...layer.may].join('|')})/` },
}));

const featureRules = FEATURE_RANKS.flatMap((slices, rank) =>
  slices.map((slice) => ({
    name: `feature-${slice}`,
    comment: `features/${slice} may import only the slices ranked below it: ${FEATURE_RANKS.slice(0, rank).flat().join(', ') || 'none'}`,
    severity: 'error',
    from: { path: `^src/features/${slice}/` },
    to: {
      path: '^src/features/',
      pathNot: `^src/features/(${[slice, ...FEATURE_RANKS.slice(0, rank).flat()].join('|')})/`,
    },
  })),
);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'a cycle makes two modules one: neither can change or be tested alone',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-test-code-in-src',
      comment: 'test helpers live in test/support/, not in what ships',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: '^test/' },
    },
    {
      name: 'features-see-interfaces',
      comment:
        'features/ talk to providers through the interfaces in src/providers/*.ts, never to an implementation: a second runtime or router must not need a change in features/',
      severity: 'error',
      from: { path: '^src/features/' },
      to: { path: '^src/providers/[^/]+/' },
    },
    ...layerRules,
    ...featureRules,
  ],
  options: {
    // TypeScript 7 has no compiler API yet: swc parses the sources, type-only imports included.
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
  },
};
