import { baseName, type ImageFileSystem } from '../filesystem.ts';
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
  noteSpawningLibraries(state, closure, interpreters);
  const potential = state.execOpen.length ? potentialClosure(state, linker) : new Map<string, string[]>();
  // Programs that may run unseen may also load libraries by name.
  if (potential.size) await followDlopen(state, linker, potential, interpreters);

  // An opaque start decides every verdict, so it is reported once for the image, not only per package.
  for (const reason of state.opaque) state.warn(`every package is UNKNOWN: ${reason}`);

  const native = { closureSize: closure.size, explainedDlopen, potential };
  const reachability = input.packages.map((pkg) => decide(state, native, pkg));
  return { reachability, warnings: state.warningList() };
}

/** Interpreter runtimes whose process starts the Node.js and Python analyses follow at the language level. */
const INTERPRETER_LIBRARIES = /^lib(python\d[\d.]*m?|node)\.so/;

/**
 * Records every linked library that imports execve, system, popen or posix_spawn, because a
 * started program can run others through any library it loads. Program packages then stay
 * UNKNOWN. Libraries a dlopen user may load count too, since whether they load is unknown. The
 * interpreters and their runtime libraries are left out because the language analyses report
 * child_process and subprocess.
 */
function noteSpawningLibraries(state: ReachState, closure: Map<string, string[]>, interpreters: Set<string>): void {
  const roots = new Set(state.elfRoots.map((root) => state.fs.resolvePath(root.path) ?? root.path));
  const linked = [...closure.keys(), ...state.dlopenCandidates.keys()];

  for (const real of linked) {
    if (roots.has(real) || interpreters.has(real)) continue;
    if (interpreters.size && INTERPRETER_LIBRARIES.test(baseName(real))) continue;

    const facts = state.elf(real);
    if (!facts?.spawns.length) continue;
    // A closure chain already ends with the library's name; a dlopen candidate is named by its path.
    const chain = closure.get(real) ?? [real];
    state.execOpen.push(`${chain.join(' → ')} imports ${facts.spawns.join(', ')} and may run other programs`);
  }
}
