// dependency-cruiser: the layering of the code base (`npm run lint`).
//
// src/core is the engine: no VS Code, no DOM, no host, worker or panel code. src/shared is the typed protocol
// and the hints host, CLI and panel all show; it may use core (its types, and the pure modules below), and core
// may use it. The panel (webview/) may import core's *types* freely; at run time it deliberately re-runs a few
// pure engine modules — the estimate arithmetic, dendrogram reading and the median — so the threshold slider
// answers without a round trip to the host. Those modules are listed in PANEL_SAFE_CORE and must stay pure: at
// run time they import only each other (no tfjs, no Node, no other engine code).

/** Engine modules the panel runs itself (and src/shared may use at run time): pure arithmetic only. */
const PANEL_SAFE_CORE = [
  '^src/core/estimate\\.ts$',
  '^src/core/similarity/cluster\\.ts$',
  '^src/core/similarity/heatmap\\.ts$',
  '^src/core/compute/statistics\\.ts$',
];
const RUNTIME = { dependencyTypesNot: ['type-only', 'pre-compilation-only'] };

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes load order matter and the modules impossible to understand one at a time.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      severity: 'error',
      comment: 'A module nothing imports (and that is not an entry point) is dead code.',
      from: {
        orphan: true,
        path: '^src/',
        pathNot: ['\\.d\\.ts$'],
      },
      to: {},
    },
    {
      name: 'formats-stay-apart',
      severity: 'error',
      comment: 'One model format never reaches into another: what two formats share lives in codecs/, model/ or structure/.',
      from: { path: '^src/core/formats/([^/]+)/' },
      to: { path: '^src/core/formats/', pathNot: '^src/core/formats/$1/' },
    },
    {
      name: 'core-is-host-free',
      severity: 'error',
      comment: 'The engine runs in the CLI, the worker and tests: it imports neither vscode nor host, worker, CLI or panel code.',
      from: { path: '^src/core/' },
      to: { path: ['^vscode$', '^node_modules/@types/vscode/', '^src/extension/', '^src/worker/', '^src/cli/', '^webview/'] },
    },
    {
      name: 'core-is-dom-free',
      severity: 'error',
      comment: 'The engine runs in Node: browser-only packages (the panel\'s web components) stay out of it.',
      from: { path: '^src/core/' },
      to: { path: '^node_modules/@vscode-elements/' },
    },
    {
      name: 'shared-is-host-free',
      severity: 'error',
      comment: 'src/shared is read by host, worker, CLI and panel alike, so it depends on none of them.',
      from: { path: '^src/shared/' },
      to: { path: ['^vscode$', '^node_modules/@types/vscode/', '^src/extension/', '^src/worker/', '^src/cli/', '^webview/'] },
    },
    {
      name: 'shared-runs-only-pure-core',
      severity: 'error',
      comment: 'src/shared runs in the panel too: at run time it may use only the pure engine modules.',
      from: { path: '^src/shared/' },
      to: { ...RUNTIME, path: '^src/core/', pathNot: PANEL_SAFE_CORE },
    },
    {
      name: 'webview-runs-only-pure-core',
      severity: 'error',
      comment: 'The panel imports engine types freely, but runs only the pure engine modules (PANEL_SAFE_CORE).',
      from: { path: '^webview/' },
      to: { ...RUNTIME, path: '^src/core/', pathNot: PANEL_SAFE_CORE },
    },
    {
      name: 'webview-is-host-free',
      severity: 'error',
      comment: 'The panel talks to the host only by messages (src/shared/protocol), never by importing host or worker code.',
      from: { path: '^webview/' },
      to: { path: ['^vscode$', '^node_modules/@types/vscode/', '^src/extension/', '^src/worker/', '^src/cli/'] },
    },
    {
      name: 'panel-safe-core-stays-pure',
      severity: 'error',
      comment: 'The engine modules the panel runs import, at run time, only each other: no tfjs, no Node, no other engine code.',
      from: { path: PANEL_SAFE_CORE },
      to: { ...RUNTIME, pathNot: PANEL_SAFE_CORE },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^dist/', '^out/', '^test/fixtures/'] },
    tsPreCompilationDeps: 'specify', // marks imports the compiler drops (types only) as pre-compilation-only
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
