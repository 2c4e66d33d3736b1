import type { ImageFileSystem } from '../filesystem.ts';
import type { AnalyzedPackage, PackageReachability } from '../model.ts';
import { readLinkerConfig } from './linker.ts';
import { followDlopen, followLinkage, potentialClosure } from './native.ts';
import { followNode } from './node.ts';
import { followStart } from './programs.ts';
import { followPython } from './python.ts';
import { startArgv, type StartConfig } from './start.ts';
import { ReachState } from './state.ts';
import { decide } from './verdict.ts';

export interface ReachabilityInput {
  fs: ImageFileSystem;
  packages: AnalyzedPackage[];
  config: StartConfig;
}

/**
 * Decides for every package whether it can run when the container starts: REACHABLE with the
 * chain from the entrypoint, UNREACHABLE with what was analysed, or UNKNOWN with the reason.
 * The order matters: programs and scripts first, then the language graphs (which add native
 * modules), then the ELF closure of all of them, then what dlopen users may load.
 */
export async function analyzeReachability(input: ReachabilityInput): Promise<{ reachability: PackageReachability[]; warnings: string[] }> {
  const state = new ReachState(input.fs, input.config);

  await followStart(state, startArgv(input.config));
  for (const start of state.nodeStarts) await followNode(state, start, start.childProcessesFollowed ? 'npm-script' : 'node-imports');
  for (const start of state.pythonStarts) await followPython(state, start);

  const linker = await readLinkerConfig(input.fs, state.env, (message) => state.warn(message));
  const closure = followLinkage(state, linker, state.elfRoots);
  const interpreters = new Set([...state.nodeStarts, ...state.pythonStarts].map((start) => start.interpreter));
  const explainedDlopen = await followDlopen(state, linker, closure, interpreters);
  const potential = state.execOpen.length ? potentialClosure(state, linker) : new Map<string, string[]>();
  // Programs that may run unseen may also load libraries by name.
  if (potential.size) await followDlopen(state, linker, potential, interpreters);

  const native = { closureSize: closure.size, explainedDlopen, potential };
  const reachability = input.packages.map((pkg) => decide(state, native, pkg));
  return { reachability, warnings: state.warningList() };
}
