import { builtinModules } from 'node:module';
import { parse, type AnyNode, type Program } from 'acorn';
import { full } from 'acorn-walk';
import { baseName, normalizePath, parentOf } from '../filesystem.ts';
import type { NodeStart, ReachState } from './state.ts';

/**
 * The Node.js import graph: from the entry files, every static import, export-from, import()
 * and require() with a literal name, resolved with Node's rules. A computed name, or a file
 * the parser cannot read, makes its scope UNKNOWN. The scope of a file is every package under
 * a node_modules folder of one of its ancestor folders: those are the packages a computed
 * require could find, together with what they load in turn.
 */

const BUILTINS = new Set(builtinModules);
const EXTENSIONS = ['.js', '.json', '.node', '.mjs', '.cjs'];
/** Export conditions that Node.js matches when it runs a program; all of them are followed, because one program may both import and require a package. */
const CONDITIONS = new Set(['node', 'import', 'require', 'default', 'module-sync', 'node-addons']);
const MAX_FILES = 50_000;

interface Specifiers {
  literal: string[];
  computed: boolean;
  childProcess: boolean;
}

/** Parses a JavaScript source as a module, then as a script; throws the module error when neither parses. */
export function parseJavaScript(source: string): Program {
  try {
    return parse(source, { ecmaVersion: 'latest', sourceType: 'module', allowHashBang: true, allowAwaitOutsideFunction: true });
  } catch (moduleError) {
    try {
      return parse(source, { ecmaVersion: 'latest', sourceType: 'script', allowHashBang: true, allowReturnOutsideFunction: true, allowAwaitOutsideFunction: true });
    } catch {
      throw moduleError;
    }
  }
}

/** Lists the modules a file loads by literal name, and whether it loads any by a computed name. */
export function moduleSpecifiers(program: Program): Specifiers {
  const result: Specifiers = { literal: [], computed: false, childProcess: false };
  const take = (argument: AnyNode | undefined | null): void => {
    const name = literalString(argument);
    if (name === undefined) result.computed = true;
    else result.literal.push(name);
  };

  full(program, (node) => {
    if (node.type === 'ImportDeclaration' || node.type === 'ExportAllDeclaration') take(node.source);
    else if (node.type === 'ExportNamedDeclaration' && node.source) take(node.source);
    else if (node.type === 'ImportExpression') take(node.source);
    else if (node.type === 'CallExpression' && isRequire(node.callee)) take(node.arguments[0]);
    else if (node.type === 'NewExpression' && node.callee.type === 'Identifier' && node.callee.name === 'Worker' && node.arguments[0]) {
      // worker_threads runs a file given by path; a URL or computed path is not followed.
      const name = literalString(node.arguments[0]);
      if (name === undefined) result.computed = true;
      else result.literal.push(name.startsWith('.') || name.startsWith('/') ? name : `./${name}`);
    }
  });

  result.childProcess = result.literal.some((name) => name === 'child_process' || name === 'node:child_process');
  return result;
}

function isRequire(callee: AnyNode): boolean {
  if (callee.type === 'Identifier') return callee.name === 'require';
  if (callee.type !== 'MemberExpression' || callee.property.type !== 'Identifier') return false;
  const object = callee.object;
  // module.require(x) loads; require.resolve(x) names a file that is usually loaded later, so it counts too.
  return object.type === 'Identifier' && ((object.name === 'module' && callee.property.name === 'require') || (object.name === 'require' && callee.property.name === 'resolve'));
}

function literalString(node: AnyNode | undefined | null): string | undefined {
  if (!node) return undefined;
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0) return node.quasis[0]?.value.cooked ?? undefined;
  return undefined;
}

/** Follows one Node.js program's graph and records what it reaches. */
export async function followNode(state: ReachState, start: NodeStart, method = 'node-imports'): Promise<void> {
  const resolver = new NodeResolver(state);
  const queue: Array<{ file: string; chain: string[] }> = [];
  const seen = new Set<string>();
  const entryLabels: string[] = [];

  for (const entry of start.entries) {
    // Scripts arrive as absolute paths; preloaded modules (-r, --import) resolve like require from the working directory.
    const file = (await resolver.resolve(entry, start.workingDir))[0];
    if (!file) {
      state.warn(`node entry ${entry} (working directory ${start.workingDir}) is not in the image`);
      continue;
    }
    entryLabels.push(file);
    queue.push({ file, chain: [...start.chain, file] });
  }

  if (start.code !== undefined) {
    entryLabels.push('node -e code');
    await visitSource(state, resolver, start, start.code, `${start.workingDir}/[eval]`, [...start.chain, 'node -e'], queue);
  }

  let count = 0;
  for (let index = 0; index < queue.length && count < MAX_FILES; index++) {
    const { file, chain } = queue[index]!;
    if (seen.has(file)) continue;
    seen.add(file);
    count++;
    state.reach(file, chain, method);

    if (file.endsWith('.json')) continue;
    if (file.endsWith('.node')) {
      state.elfRoots.push({ path: file, chain });
      continue;
    }

    const source = await state.readText(file);
    if (source === undefined) {
      unknownScope(state, file, `${file} is loaded but was not kept for analysis (too large or not selected)`);
      continue;
    }
    await visitSource(state, resolver, start, source, file, chain, queue);
  }

  if (count >= MAX_FILES) state.warn(`the Node.js graph from ${entryLabels.join(', ')} has more than ${MAX_FILES} files; the rest is UNKNOWN`);
  state.graphSummaries.push({ method, text: `the Node.js import graph from ${entryLabels.join(', ') || 'its entry'} (${count} files)` });
}

async function visitSource(state: ReachState, resolver: NodeResolver, start: NodeStart, source: string, file: string, chain: string[], queue: Array<{ file: string; chain: string[] }>): Promise<void> {
  let specifiers: Specifiers;
  try {
    specifiers = moduleSpecifiers(parseJavaScript(source));
  } catch (error) {
    unknownScope(state, file, `${file} does not parse as JavaScript (${(error as Error).message}), so what it loads is unknown`);
    return;
  }

  if (specifiers.computed) unknownScope(state, file, `${file} calls require or import() with a computed name`);
  if (specifiers.childProcess && !start.childProcessesFollowed) state.execOpen.push(`${file} uses child_process and may run other programs`);

  const fromPackage = packageOf(file);
  for (const specifier of specifiers.literal) {
    if (BUILTINS.has(specifier) || specifier.startsWith('node:')) continue;
    const targets = await resolver.resolve(specifier, parentOf(file));
    if (!targets.length && !specifier.startsWith('.')) state.warn(`${file} loads ${specifier}, which is not installed where Node.js looks for it`);

    for (const target of targets) {
      const targetPackage = packageOf(target);
      const label = targetPackage && targetPackage.location !== fromPackage?.location ? targetPackage.name : undefined;
      queue.push({ file: target, chain: label ? [...chain, label] : chain });
    }
  }
}

/** Returns the package a file belongs to: the folder after its last node_modules component. */
export function packageOf(file: string): { name: string; location: string } | undefined {
  const cut = file.lastIndexOf('/node_modules/');
  if (cut < 0) return undefined;
  const rest = file.slice(cut + '/node_modules/'.length).split('/');
  const name = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? '');
  return { name, location: `${file.slice(0, cut)}/node_modules/${name}` };
}

function unknownScope(state: ReachState, file: string, reason: string): void {
  const dirs: string[] = [];
  for (let dir = parentOf(file); ; dir = parentOf(dir)) {
    dirs.push(dir === '/' ? '/node_modules' : `${dir}/node_modules`);
    if (dir === '/') break;
  }
  state.nodeUnknownScopes.push({ dirs, reason });
  state.warn(reason);
}

/** Node.js's module resolution over the image's file system. */
class NodeResolver {
  readonly #manifests = new Map<string, Record<string, unknown> | null>();

  constructor(readonly state: ReachState) {}

  async resolve(specifier: string, fromDir: string): Promise<string[]> {
    if (specifier.startsWith('/') || specifier.startsWith('./') || specifier.startsWith('../') || specifier === '.' || specifier === '..') {
      return await this.resolveFileOrDir(normalizePath(specifier, fromDir));
    }
    if (specifier.startsWith('file://')) return await this.resolveFileOrDir(normalizePath(decodeURIComponent(specifier.slice(7))));
    if (specifier.startsWith('#')) return this.#resolveImports(specifier, fromDir);

    const parts = specifier.split('/');
    const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
    const subpath = specifier.slice(name.length) ? `.${specifier.slice(name.length)}` : '.';

    for (let dir = fromDir; ; dir = parentOf(dir)) {
      if (baseName(dir) !== 'node_modules') {
        const packageDir = normalizePath(`${dir}/node_modules/${name}`);
        if (this.state.fs.resolve(packageDir)?.kind === 'directory') return this.#resolvePackage(packageDir, subpath);
      }
      if (dir === '/') break;
    }
    return [];
  }

  async #resolvePackage(packageDir: string, subpath: string): Promise<string[]> {
    const manifest = await this.#manifest(packageDir);
    if (manifest && manifest.exports !== undefined && manifest.exports !== null) {
      return this.#targets(exportTargets(manifest.exports, subpath), packageDir);
    }
    return await this.resolveFileOrDir(subpath === '.' ? packageDir : normalizePath(subpath, packageDir));
  }

  async #resolveImports(specifier: string, fromDir: string): Promise<string[]> {
    for (let dir = fromDir; ; dir = parentOf(dir)) {
      const manifest = await this.#manifest(dir);
      if (manifest) {
        const imports = manifest.imports;
        if (!imports || typeof imports !== 'object') return [];
        const targets = exportTargets(imports, specifier);
        const files: string[] = [];
        for (const target of targets) {
          if (target.startsWith('./')) files.push(...(await this.resolveFileOrDir(normalizePath(target, dir))));
          else files.push(...(await this.resolve(target, dir)));
        }
        return files;
      }
      if (dir === '/') return [];
    }
  }

  async #targets(targets: string[], packageDir: string): Promise<string[]> {
    const files: string[] = [];
    for (const target of targets) files.push(...(await this.resolveFileOrDir(normalizePath(target, packageDir))));
    return files;
  }

  /** A file as given, with an added extension, or a folder's main or index file. */
  async resolveFileOrDir(path: string): Promise<string[]> {
    const fs = this.state.fs;
    const isFile = (candidate: string): string | undefined => {
      const node = fs.resolve(candidate);
      return node && (node.kind === 'file' || node.kind === 'hardlink') ? (fs.resolvePath(candidate) ?? candidate) : undefined;
    };

    const direct = isFile(path) ?? EXTENSIONS.map((extension) => isFile(`${path}${extension}`)).find(Boolean);
    if (direct) return [direct];
    if (fs.resolve(path)?.kind !== 'directory') return [];

    const main = (await this.#manifest(path))?.main;
    if (typeof main === 'string' && main) {
      const target = normalizePath(main, path);
      const found = isFile(target) ?? EXTENSIONS.map((extension) => isFile(`${target}${extension}`)).find(Boolean) ?? ['index.js', 'index.json', 'index.node'].map((index) => isFile(`${target}/${index}`)).find(Boolean);
      if (found) return [found];
    }
    const index = ['index.js', 'index.json', 'index.node'].map((name) => isFile(`${path}/${name}`)).find(Boolean);
    return index ? [index] : [];
  }

  async #manifest(dir: string): Promise<Record<string, unknown> | null> {
    if (this.#manifests.has(dir)) return this.#manifests.get(dir) ?? null;
    let manifest: Record<string, unknown> | null = null;
    const text = await this.state.readText(`${dir}/package.json`);
    if (text !== undefined) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) manifest = parsed as Record<string, unknown>;
      } catch {
        this.state.warn(`${dir}/package.json is not valid JSON; Node.js would fail to load that package`);
      }
    }
    this.#manifests.set(dir, manifest);
    return manifest;
  }
}

/**
 * Returns the targets an exports (or imports) map gives a subpath: an exact key, else the
 * pattern key with the longest prefix, with `*` replaced. Every condition in CONDITIONS is followed.
 */
export function exportTargets(exports: unknown, subpath: string): string[] {
  const isSubpathMap = exports !== null && typeof exports === 'object' && !Array.isArray(exports) && Object.keys(exports).some((key) => key.startsWith('.') || key.startsWith('#'));
  if (!isSubpathMap) return subpath === '.' ? conditionTargets(exports, undefined) : [];

  const map = exports as Record<string, unknown>;
  if (subpath in map && !subpath.includes('*')) return conditionTargets(map[subpath], undefined);

  let best: { key: string; match: string } | undefined;
  for (const key of Object.keys(map)) {
    const star = key.indexOf('*');
    if (star < 0) continue;
    const prefix = key.slice(0, star);
    const suffix = key.slice(star + 1);
    if (subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= key.length - 1) {
      if (!best || prefix.length > best.key.indexOf('*')) best = { key, match: subpath.slice(prefix.length, subpath.length - suffix.length) };
    }
  }
  // Folder mappings ("./lib/": "./lib/") are deprecated but still found in old packages.
  if (!best) {
    const folder = Object.keys(map).filter((key) => key.endsWith('/') && subpath.startsWith(key)).sort((a, b) => b.length - a.length)[0];
    if (folder) return conditionTargets(map[folder], undefined).map((target) => `${target}${subpath.slice(folder.length)}`);
    return [];
  }
  return conditionTargets(map[best.key], best.match);
}

function conditionTargets(target: unknown, match: string | undefined): string[] {
  if (typeof target === 'string') return [match === undefined ? target : target.replace(/\*/g, match)];
  if (Array.isArray(target)) return target.flatMap((item) => conditionTargets(item, match));
  if (target && typeof target === 'object') {
    return Object.entries(target as Record<string, unknown>).filter(([condition]) => CONDITIONS.has(condition)).flatMap(([, value]) => conditionTargets(value, match));
  }
  return [];
}
