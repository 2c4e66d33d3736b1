import { baseName } from '../filesystem.ts';
import type { AnalyzedPackage, PackageReachability } from '../model.ts';
import { ELF_FACTS, type ElfFacts } from './elf.ts';
import type { Reach, ReachState } from './state.ts';

/**
 * Decides each package's status from what the analysis reached and what it could not see.
 * A package is REACHABLE when a reached file belongs to it. Otherwise every kind of code it
 * installs is checked against the analysis that covers that kind. One uncertain kind makes it
 * UNKNOWN, so it is UNREACHABLE only when every kind is covered.
 */

/** Kinds of code a package installs; each is covered by one analysis. */
type CodeKind = 'library' | 'executable' | 'node' | 'python' | 'other';

const METHOD_BY_KIND: Record<CodeKind, string> = {
  library: 'elf-linkage',
  executable: 'entrypoint',
  node: 'node-imports',
  python: 'python-imports',
  other: 'entrypoint',
};

/** Results of the native step beyond the state: the closure size, explained dlopen users, and every program's closure when programs may run unseen. */
export interface NativeSummary {
  closureSize: number;
  /** dlopen users whose literals explain what they load, for UNREACHABLE evidence. */
  explainedDlopen: string[];
  /** Libraries linked by any program in the image; filled only when unseen programs may run. */
  potential: Map<string, string[]>;
}

const MAX_REASONS = 3;

export function decide(state: ReachState, native: NativeSummary, pkg: AnalyzedPackage): PackageReachability {
  const label = `${pkg.name} ${pkg.version}`;
  const files = pkg.files.map((file) => ({ file, real: state.fs.resolvePath(file) ?? file }));

  const reached = files.map(({ real }) => state.reached.get(real)).filter((reach): reach is Reach => Boolean(reach));
  if (reached.length) {
    reached.sort((a, b) => a.chain.length - b.chain.length);
    const best = reached[0]!;
    const evidence = [...new Set(reached.slice(0, MAX_REASONS).map((reach) => [...reach.chain, label].join(' → ')))];
    return { packageId: pkg.id, status: 'REACHABLE', method: best.method, evidence };
  }

  if (state.opaque.length) {
    return { packageId: pkg.id, status: 'UNKNOWN', method: 'entrypoint', evidence: state.opaque.slice(0, MAX_REASONS) };
  }

  const kinds = codeKinds(state, pkg, files);
  if (!kinds.size) {
    return {
      packageId: pkg.id,
      status: 'UNKNOWN',
      method: 'content',
      evidence: [`${label} installs no program, library or source file that the analysis follows; started programs may still read its data`],
    };
  }

  const uncertain: string[] = [];
  let method: string | undefined;
  for (const kind of kinds) {
    const reasons = uncertainty(state, native, kind, files);
    if (reasons.length && !method) method = METHOD_BY_KIND[kind];
    uncertain.push(...reasons);
  }
  if (uncertain.length) {
    return { packageId: pkg.id, status: 'UNKNOWN', method: method ?? 'entrypoint', evidence: [...new Set(uncertain)].slice(0, MAX_REASONS) };
  }

  const evidence = [...kinds].map((kind) => coverage(state, native, kind, label));
  return { packageId: pkg.id, status: 'UNREACHABLE', method: METHOD_BY_KIND[[...kinds][0]!], evidence };
}

function codeKinds(state: ReachState, pkg: AnalyzedPackage, files: Array<{ file: string; real: string }>): Set<CodeKind> {
  const kinds = new Set<CodeKind>();
  if (pkg.type === 'npm') kinds.add('node');
  if (pkg.type === 'pypi') kinds.add('python');
  if (pkg.type === 'maven' || pkg.type === 'golang') kinds.add('other');

  for (const { file, real } of files) {
    const node = state.fs.entry(real);
    if (!node || node.kind === 'directory' || node.kind === 'symlink') continue;
    const name = baseName(file);
    const facts = node.facts?.[ELF_FACTS] as ElfFacts | undefined;

    if (facts) {
      const library = facts.soname !== undefined || /\.so(\.|$)/.test(name) || (facts.type === 3 && !facts.interpreter);
      kinds.add(library ? 'library' : 'executable');
      if (name.endsWith('.node')) kinds.add('node');
      if (/\/(site|dist)-packages\/|\/lib-dynload\//.test(file)) kinds.add('python');
    } else if (/\.(js|mjs|cjs)$/.test(name)) kinds.add('node');
    else if (/\.py$/.test(name)) kinds.add('python');
    else if (/\.(jar|war|class|rb|pl|pm|php|lua)$/.test(name)) kinds.add('other');
    else if (/\/s?bin\//.test(file) && node.mode & 0o111) kinds.add('executable');
  }
  return kinds;
}

/** Reasons why code of this kind may run although the analysis did not reach it. */
function uncertainty(state: ReachState, native: NativeSummary, kind: CodeKind, files: Array<{ file: string; real: string }>): string[] {
  const reasons: string[] = [];

  if (kind === 'library') {
    for (const { real } of files) {
      const candidate = state.dlopenCandidates.get(real);
      if (candidate) reasons.push(`${baseName(real)} ${candidate}`);
      const linkedBy = native.potential.get(real);
      if (linkedBy && state.execOpen.length) reasons.push(`${linkedBy.join(' → ')} links it, and that program may run because ${state.execOpen[0]}`);
    }
    for (const reason of state.dlopenOpen) reasons.push(reason);
  }
  if (kind === 'executable' || kind === 'other') reasons.push(...state.execOpen.map((reason) => `its programs may be started: ${reason}`));
  if (kind === 'node') {
    for (const scope of state.nodeUnknownScopes) {
      // A scope of '/' covers every package, for example when node evaluates code computed at run time.
      if (files.some(({ file }) => scope.dirs.some((dir) => dir === '/' || file.startsWith(`${dir}/`)))) reasons.push(scope.reason);
    }
    if (!state.nodeStarts.length && state.execOpen.length) reasons.push(`a Node.js program may be started: ${state.execOpen[0]}`);
  }
  if (kind === 'python') {
    reasons.push(...state.pythonUnknown);
    if (!state.pythonStarts.length && state.execOpen.length) reasons.push(`a Python program may be started: ${state.execOpen[0]}`);
  }
  return reasons;
}

/** Describes what was analysed, as evidence that nothing reaches code of this kind. */
function coverage(state: ReachState, native: NativeSummary, kind: CodeKind, label: string): string {
  const started = state.started.length ? state.started.slice(0, 4).join(', ') : 'nothing';
  if (kind === 'library') {
    const dlopen = native.explainedDlopen.length ? `; dlopen users load only the names and folders in their string literals: ${native.explainedDlopen.slice(0, 3).join('; ')}` : '';
    return `no file of ${label} is in the linkage closure (${native.closureSize} files) of the started programs (${started})${dlopen}`;
  }
  if (kind === 'node' || kind === 'python') {
    const graphs = state.graphSummaries.filter((summary) => summary.method === (kind === 'node' ? 'node-imports' : 'python-imports'));
    const language = kind === 'node' ? 'Node.js' : 'Python';
    if (!graphs.length) return `no ${language} program is started: the container starts ${started} and runs no program the analysis cannot see`;
    return `${graphs.map((graph) => graph.text).join('; ')} does not reach ${label}`;
  }
  return `none of the programs of ${label} is started: the container starts ${started} and runs no program the analysis cannot see`;
}
