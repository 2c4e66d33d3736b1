import { baseName, normalizePath } from '../filesystem.ts';
import type { FileNode } from '../model.ts';
import { ELF_FACTS, type ElfFacts } from './elf.ts';
import { findLibrary, type LinkedObject, type LinkerConfig } from './linker.ts';
import type { ReachState } from './state.ts';

/**
 * The native side of reachability: the linkage closure of every started ELF file and native
 * module, and the libraries that dlopen users may load by name.
 *
 * What the analysis assumes about dlopen, since names built at run time cannot be seen:
 * - a dlopen user loads only libraries whose file name, name pattern (`lib%s.so`) or folder
 *   appears among its string literals. A dlopen user with no such literal makes every library
 *   outside the closure UNKNOWN;
 * - the Node.js and Python interpreters load native modules only through the imports their
 *   analyses follow, and bash loads libraries only through `enable -f`, which the shell
 *   analysis reports;
 * - glibc loads NSS modules for the services /etc/nsswitch.conf names (files and dns are built
 *   into glibc 2.34 and later), and gconv modules, which glibc's own package installs.
 * Libraries a dlopen user may load are UNKNOWN, never REACHABLE: a literal shows the name is
 * known to the program, not that the code path that loads it runs.
 */

const SHELL_NAMES = /^(bash|sh|dash|ash|ksh|mksh|zsh|busybox)$/;
/** Python's ctypes and cffi modules, whose loads the Python analysis finds at their call sites. */
const PYTHON_LOADERS = /^(_ctypes|_cffi_backend)\./;
const MAX_LINKED = 20_000;

interface Pending {
  object: LinkedObject;
  real: string;
  chain: string[];
  loaders: LinkedObject[];
  interpreter: string | undefined;
}

/** Follows PT_INTERP and DT_NEEDED from every root, recording each library with its chain. Returns the closure's resolved paths. */
export function followLinkage(state: ReachState, config: LinkerConfig, roots: Array<{ path: string; chain: string[] }>, method = 'elf-linkage', record = true): Map<string, string[]> {
  const closure = new Map<string, string[]>();
  const queue: Pending[] = [];

  for (const root of roots) {
    const real = state.fs.resolvePath(root.path) ?? root.path;
    const facts = state.elf(real);
    if (!facts || closure.has(real)) continue;
    closure.set(real, root.chain);

    const object = { path: root.path, facts };
    queue.push({ object, real, chain: root.chain, loaders: [], interpreter: facts.interpreter });
    for (const name of config.preload) {
      const found = findLibrary(state.fs, config, name, object, [], facts.interpreter);
      const preloadFacts = found ? state.elf(found.real) : undefined;
      if (found && preloadFacts && !closure.has(found.real)) {
        const chain = [...root.chain, `${name} (preloaded)`];
        closure.set(found.real, chain);
        queue.push({ object: { path: found.path, facts: preloadFacts }, real: found.real, chain, loaders: [object], interpreter: facts.interpreter });
      }
    }
  }

  for (let index = 0; index < queue.length && closure.size < MAX_LINKED; index++) {
    const { object, chain, loaders, interpreter } = queue[index]!;

    if (object.facts.interpreter) {
      const real = state.fs.resolvePath(object.facts.interpreter);
      const facts = real ? state.elf(real) : undefined;
      if (real && facts && !closure.has(real)) {
        const interpreterChain = [...chain, object.facts.interpreter];
        closure.set(real, interpreterChain);
        queue.push({ object: { path: object.facts.interpreter, facts }, real, chain: interpreterChain, loaders: [], interpreter });
      } else if (!real && record) state.warn(`the program interpreter ${object.facts.interpreter} of ${object.path} is not in the image`);
    }

    for (const name of object.facts.needed) {
      const found = findLibrary(state.fs, config, name, object, loaders, interpreter);
      if (!found) {
        if (record) state.warn(`${name}, needed by ${object.path}, is not in the image's library search path`);
        continue;
      }
      if (closure.has(found.real)) continue;

      const facts = state.elf(found.real);
      const libraryChain = [...chain, name];
      closure.set(found.real, libraryChain);
      if (facts) queue.push({ object: { path: found.path, facts }, real: found.real, chain: libraryChain, loaders: [object, ...loaders].slice(0, 16), interpreter });
    }
  }

  if (record) for (const [real, chain] of closure) state.reach(real, chain, method);
  return closure;
}

/**
 * Lists the shared libraries of the image, for matching the names dlopen users contain: every
 * ELF library file, and every symlink that leads to one (sonames are usually symlinks).
 */
export function libraryFiles(state: ReachState): FileNode[] {
  const libraries: FileNode[] = [];
  const isLibrary = (node: FileNode | undefined): boolean => {
    const facts = node?.facts?.[ELF_FACTS] as ElfFacts | undefined;
    return Boolean(node && facts && (facts.soname || /\.so(\.|$)/.test(baseName(node.path))));
  };

  for (const node of state.fs.entries()) {
    if (node.kind === 'symlink' ? /\.so(\.|$)/.test(baseName(node.path)) && isLibrary(state.fs.resolve(node.path)) : isLibrary(node)) libraries.push(node);
  }
  return libraries;
}

/**
 * Finds what the dlopen users in the closure may load and records it on the state: candidates
 * with the literal that names them, or the users that name nothing.
 */
export async function followDlopen(state: ReachState, config: LinkerConfig, closure: Map<string, string[]>, interpreters: Set<string>): Promise<string[]> {
  const libraries = libraryFiles(state);
  const explained: string[] = [];
  const candidates: Array<{ path: string; chain: string[]; reason: string }> = [];

  for (const [real, chain] of closure) {
    const facts = state.elf(real);
    if (!facts?.importsDlopen) continue;
    const label = chain[chain.length - 1] ?? real;

    if (interpreters.has(real) || SHELL_NAMES.test(baseName(real)) || PYTHON_LOADERS.test(baseName(real))) continue;
    const { named, matches } = matchLoadStrings(facts.loadStrings ?? [], libraries);
    if (!named.length) {
      state.dlopenOpen.push(`${label} imports dlopen and contains no library name or folder the analysis can match, so it may load any library`);
      continue;
    }
    explained.push(`${label} (${named.slice(0, 6).join(', ')}${named.length > 6 ? ', …' : ''})`);
    for (const match of matches) candidates.push({ path: match.path, chain: [...chain, `dlopen ${match.literal}`], reason: `${label} imports dlopen and contains "${match.literal}"` });
  }

  for (const name of state.dlopenNames) {
    const found = libraries.filter((node) => baseName(node.path) === name.name || baseName(node.path).startsWith(`${name.name}.so`) || baseName(node.path).startsWith(`lib${name.name}.so`));
    for (const node of found) candidates.push({ path: node.path, chain: [name.reason], reason: name.reason });
  }

  await nssCandidates(state, config, closure, candidates);

  // A candidate's own dependencies load with it, so they are candidates for the same reason.
  const candidateClosure = followLinkage(state, config, candidates.map((candidate) => ({ path: candidate.path, chain: candidate.chain })), 'dlopen', false);
  for (const [real, chain] of candidateClosure) {
    if (closure.has(real) || state.dlopenCandidates.has(real)) continue;
    const source = candidates.find((candidate) => chain[0] === candidate.chain[0] && chain[1] === candidate.chain[1]);
    state.dlopenCandidates.set(real, `may be loaded at run time: ${source?.reason ?? chain.join(' → ')} (${chain.join(' → ')})`);
  }
  return explained;
}

/**
 * Matches a dlopen user's literals against the image's libraries. `named` is false when no
 * literal names a library or a folder, which leaves what the user loads unknown.
 */
function matchLoadStrings(literals: string[], libraries: FileNode[]): { named: string[]; matches: Array<{ path: string; literal: string }> } {
  const named: string[] = [];
  const matches: Array<{ path: string; literal: string }> = [];

  for (const literal of literals) {
    // The program interpreter's path appears in every dynamically linked program.
    if (/\/ld-(linux|musl)[\w.-]*\.so/.test(literal)) continue;
    named.push(literal);

    const pattern = globRegex(literal);
    for (const node of libraries) {
      const hit = literal.startsWith('/')
        ? node.path === literal || node.path.startsWith(`${literal}/`) || pattern?.test(node.path)
        : baseName(node.path) === literal || pattern?.test(baseName(node.path));
      if (hit) matches.push({ path: node.path, literal });
    }
  }
  // Literals that matched a library come first, so that evidence shows them.
  const matched = new Set(matches.map((match) => match.literal));
  return { named: [...named.filter((literal) => matched.has(literal)), ...named.filter((literal) => !matched.has(literal))], matches };
}

/** Turns printf conversions (%s, %d) into wildcards; undefined when the literal has none. */
function globRegex(literal: string): RegExp | undefined {
  if (!literal.includes('%')) return undefined;
  const escaped = literal.replace(/[.+^${}()|[\]\\*?]/g, '\\$&').replace(/%[-\d.]*[sdiu]/g, '[^/]*');
  return new RegExp(`^${escaped}$`);
}

/** glibc's NSS: a program linked with glibc loads libnss_SERVICE.so.2 for each service nsswitch.conf names. */
async function nssCandidates(state: ReachState, config: LinkerConfig, closure: Map<string, string[]>, candidates: Array<{ path: string; chain: string[]; reason: string }>): Promise<void> {
  const libc = [...closure].find(([real]) => /^libc\.so\.6$/.test(baseName(real)) || state.elf(real)?.soname === 'libc.so.6');
  if (!libc) return;
  const libcFacts = state.elf(libc[0]);
  if (!libcFacts) return;

  const text = (await state.fs.read('/etc/nsswitch.conf'))?.toString('utf8');
  const services = new Set<string>(text === undefined ? ['files', 'dns'] : []);
  for (const line of (text ?? '').split('\n')) {
    const match = /^\s*[\w-]+\s*:\s*(.*)$/.exec(line.replace(/#.*/, ''));
    for (const word of match?.[1]?.replace(/\[[^\]]*\]/g, ' ').split(/\s+/) ?? []) if (/^[\w-]+$/.test(word)) services.add(word);
  }

  for (const service of services) {
    const name = `libnss_${service}.so.2`;
    const found = findLibrary(state.fs, config, name, { path: libc[0], facts: libcFacts }, [], libcFacts.interpreter);
    if (found && !closure.has(found.real)) candidates.push({ path: found.path, chain: [...libc[1], `NSS ${service}`], reason: `glibc loads ${name} for name lookups because ${text === undefined ? 'its default NSS configuration' : '/etc/nsswitch.conf'} names ${service}` });
  }
}

/**
 * Computes the closure of every program in the image. When the analysis cannot see which
 * programs run, a library linked by any of them may be loaded.
 */
export function potentialClosure(state: ReachState, config: LinkerConfig): Map<string, string[]> {
  const roots: Array<{ path: string; chain: string[] }> = [];
  for (const node of state.fs.entries()) {
    const facts = node.facts?.[ELF_FACTS] as ElfFacts | undefined;
    if (!facts || node.kind !== 'file') continue;
    const executable = facts.type === 2 || (facts.interpreter !== undefined && !facts.soname && !/\.so(\.|$)/.test(baseName(node.path)));
    if (executable && node.mode & 0o111) roots.push({ path: normalizePath(node.path), chain: [node.path] });
  }
  return followLinkage(state, config, roots, 'elf-linkage', false);
}
