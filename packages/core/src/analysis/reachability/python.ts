import { baseName, normalizePath, parentOf } from '../filesystem.ts';
import type { PythonStart, ReachState } from './state.ts';

/**
 * The Python import graph: from the entry script, module or code, every import statement
 * (absolute, relative, `from x import y` where y is a submodule) and importlib.import_module or
 * __import__ with a literal name, resolved against the interpreter's sys.path in the image.
 * C extension modules join the ELF closure.
 *
 * Computed imports in application and third-party code make the Python scope UNKNOWN. Computed
 * imports inside the standard library are not counted: they load standard modules (encodings,
 * for example) or the names application code passes, which the application's own call shows.
 * NOTE: stdlib features that import by a name found in data (pickle, logging.config) are not seen.
 */

const MAX_FILES = 50_000;

export interface PythonImport {
  /** Leading dots of a relative import; 0 for absolute. */
  level: number;
  module: string;
  /** Names after `from x import`, which may be submodules. */
  names: string[];
}

export interface PythonSourceFacts {
  imports: PythonImport[];
  computedImport: boolean;
  runsPrograms: boolean;
  /** Library names passed to ctypes or cffi as literals. */
  libraries: string[];
  computedLibrary: boolean;
}

/**
 * Splits Python source into statements with string literals replaced by placeholders `\0N\0`.
 * Handles comments, single and triple quotes with prefixes, brackets that span lines and
 * backslash continuations, which is all import statements need.
 */
export function pythonStatements(source: string): { statements: string[]; literals: string[] } {
  const statements: string[] = [];
  const literals: string[] = [];
  const special = /[#'"\\()[\]{}\n;\r]/g;
  let chunks: string[] = [];
  let depth = 0;
  let i = 0;

  const end = (): void => {
    const statement = chunks.join('').trim();
    if (statement) statements.push(statement);
    chunks = [];
  };

  while (i < source.length) {
    special.lastIndex = i;
    const found = special.exec(source);
    const next = found ? found.index : source.length;
    if (next > i) chunks.push(source.slice(i, next));
    if (!found) break;
    i = next;
    const c = source[i]!;

    if (c === '#') {
      const newline = source.indexOf('\n', i);
      i = newline < 0 ? source.length : newline;
    } else if (c === "'" || c === '"') {
      const triple = source.startsWith(c.repeat(3), i);
      const quote = triple ? c.repeat(3) : c;
      const prefix = /[A-Za-z]{0,2}$/.exec(chunks[chunks.length - 1] ?? '')?.[0] ?? '';
      const raw = /r/i.test(prefix);
      let j = i + quote.length;
      let start = j;
      const value: string[] = [];
      while (j < source.length && !source.startsWith(quote, j)) {
        if (source[j] === '\\' && !raw) {
          value.push(source.slice(start, j), source[j + 1] ?? '');
          j += 2;
          start = j;
          continue;
        }
        if (!triple && source[j] === '\n') break;
        j++;
      }
      value.push(source.slice(start, j));
      chunks.push(`\0${literals.length}\0`);
      literals.push(value.join(''));
      i = j + quote.length;
    } else if (c === '\\') {
      // A backslash before a newline joins lines; elsewhere outside strings it is kept as is.
      if (source[i + 1] === '\n') i += 2;
      else if (source[i + 1] === '\r' && source[i + 2] === '\n') i += 3;
      else {
        chunks.push(c);
        i++;
      }
    } else if (c === '(' || c === '[' || c === '{') {
      depth++;
      chunks.push(c);
      i++;
    } else if (c === ')' || c === ']' || c === '}') {
      depth = Math.max(0, depth - 1);
      chunks.push(c);
      i++;
    } else if ((c === '\n' || c === ';') && depth === 0) {
      end();
      i++;
    } else {
      chunks.push(' ');
      i++;
    }
  }
  end();
  return { statements, literals };
}

const COMPOUND_HEADER = /^(?:(?:async\s+)?(?:if|elif|while|for|with|try|except|else|finally|def|class)\b[^:]*:)\s*/;
const PLACEHOLDER = /^\0(\d+)\0$/;
/** Words every statement the scanner reads contains; other statements are skipped cheaply. */
const RELEVANT = /import|subprocess|os\.|pty\.|DLL|LoadLibrary|find_library|dlopen/;

/** Reads the imports and the process and library loading a Python source does. */
export function scanPythonSource(source: string): PythonSourceFacts {
  const { statements, literals } = pythonStatements(source);
  const facts: PythonSourceFacts = { imports: [], computedImport: false, runsPrograms: false, libraries: [], computedLibrary: false };
  const literalOf = (text: string | undefined): string | undefined => {
    const match = PLACEHOLDER.exec((text ?? '').trim());
    return match ? literals[Number(match[1])] : undefined;
  };

  for (let statement of statements) {
    if (!RELEVANT.test(statement)) continue;
    // An import may follow an inline compound header: `try: import x`, `if TYPE_CHECKING: import y`.
    for (let header = COMPOUND_HEADER.exec(statement); header && header[0].length; header = COMPOUND_HEADER.exec(statement)) statement = statement.slice(header[0].length);

    const plain = /^import\s+(.+)$/.exec(statement);
    if (plain) {
      for (const part of plain[1]!.split(',')) {
        const module = part.trim().split(/\s+as\s+/)[0]?.trim();
        if (module && /^[\w.]+$/.test(module)) facts.imports.push({ level: 0, module, names: [] });
      }
    }
    const from = /^from\s+(\.*)\s*([\w.]*)\s+import\s+(.+)$/.exec(statement);
    if (from && from[2] !== '__future__') {
      const names = from[3]!.replace(/[()]/g, ' ').split(',').map((part) => part.trim().split(/\s+as\s+/)[0]?.trim() ?? '').filter((name) => /^\w+$/.test(name));
      facts.imports.push({ level: from[1]!.length, module: from[2]!, names });
    }

    for (const call of statement.matchAll(/\b(import_module|__import__)\s*\(([^,)]*)([,)]?)([^)]*)/g)) {
      const name = literalOf(call[2]);
      if (name === undefined) facts.computedImport = true;
      else if (name.startsWith('.')) {
        const level = name.length - name.replace(/^\.+/, '').length;
        facts.imports.push({ level, module: name.slice(level), names: [] });
      } else facts.imports.push({ level: 0, module: name, names: [] });
    }

    if (/\bimport\s+.*\bsubprocess\b|\bfrom\s+subprocess\s+import\b|\bos\.(system|popen|exec\w*|spawn\w*|posix_spawn\w*)\s*\(|\bcreate_subprocess_(exec|shell)\b|\bpty\.spawn\b/.test(statement)) facts.runsPrograms = true;

    for (const call of statement.matchAll(/\b(CDLL|PyDLL|LoadLibrary|find_library|dlopen)\s*\(([^,)]*)/g)) {
      const name = literalOf(call[2]);
      if (name === undefined) facts.computedLibrary = true;
      else facts.libraries.push(name);
    }
  }
  return facts;
}

/** An interpreter's module search path, and the folders of it that are the standard library. */
interface SysPath {
  dirs: string[];
  stdlib: string[];
}

async function sysPathOf(state: ReachState, start: PythonStart, firstDir: string): Promise<SysPath> {
  const fs = state.fs;
  const started = start.chain[start.chain.length - 1] ?? start.interpreter;
  const version = /python(\d+\.\d+)/.exec(baseName(started))?.[1] ?? /python(\d+\.\d+)/.exec(baseName(start.interpreter))?.[1];
  const libRoots = ['/usr/lib', '/usr/local/lib', parentOf(parentOf(start.interpreter)) + '/lib'];

  const stdlib: string[] = [];
  for (const root of new Set(libRoots)) {
    for (const node of fs.list(fs.resolvePath(root) ?? root)) {
      const name = baseName(node.path);
      if (/^python\d+\.\d+$/.test(name) && (!version || name === `python${version}`)) stdlib.push(`${root}/${name}`, `${root}/${name}/lib-dynload`);
    }
  }

  // A virtual environment: pyvenv.cfg next to the bin folder the interpreter was started from.
  const venvRoot = parentOf(parentOf(started));
  const venvConfig = await state.readText(`${venvRoot}/pyvenv.cfg`);
  const venvSites: string[] = [];
  if (venvConfig !== undefined) {
    for (const node of fs.list(`${venvRoot}/lib`)) if (/^python\d+\.\d+$/.test(baseName(node.path))) venvSites.push(`${node.path}/site-packages`);
  }
  const systemSite = venvConfig === undefined || /include-system-site-packages\s*=\s*true/i.test(venvConfig);

  const sites: string[] = [...venvSites];
  if (systemSite) {
    for (const dir of stdlib.filter((dir) => !dir.endsWith('lib-dynload'))) sites.push(`${dir}/site-packages`, `${dir}/dist-packages`);
    sites.push('/usr/lib/python3/dist-packages', '/usr/local/lib/python3/dist-packages');
  }

  const pythonPath = (state.env.get('PYTHONPATH') ?? '').split(':').filter(Boolean).map((dir) => normalizePath(dir, start.workingDir));
  // gunicorn and uvicorn put the working directory (or --chdir) on sys.path before they import the application.
  const serverDir = start.server ? [start.workingDir] : [];
  const dirs = [firstDir, ...serverDir, ...pythonPath, ...stdlib, ...sites].filter((dir) => fs.resolve(dir)?.kind === 'directory');

  // .pth files add folders to sys.path; the lines that start with `import` run at startup and are followed by the caller.
  for (const site of sites) {
    for (const node of fs.list(fs.resolvePath(site) ?? site)) {
      if (!node.path.endsWith('.pth')) continue;
      for (const line of ((await state.readText(node.path)) ?? '').split('\n')) {
        const trimmed = line.trim();
        if (trimmed && !trimmed.startsWith('#') && !/^import\s/.test(trimmed)) dirs.push(normalizePath(trimmed, site));
      }
    }
  }
  return { dirs: [...new Set(dirs)], stdlib: stdlib.filter((dir) => !dir.endsWith('lib-dynload')) };
}

/** Follows one Python program's imports and records what it reaches. */
export async function followPython(state: ReachState, start: PythonStart): Promise<void> {
  const scriptPaths = start.scripts.map((script) => normalizePath(script, start.workingDir));
  const firstDir = scriptPaths[0] ? parentOf(state.fs.resolvePath(scriptPaths[0]) ?? scriptPaths[0]) : start.workingDir;
  const sysPath = await sysPathOf(state, start, firstDir);
  const queue: Array<{ file: string; chain: string[]; top: string }> = [];
  const seen = new Set<string>();
  const entryLabels: string[] = [];

  for (const script of scriptPaths) {
    const real = state.fs.resolvePath(script);
    if (!real) state.warn(`python script ${script} is not in the image`);
    else {
      entryLabels.push(script);
      queue.push({ file: real, chain: [...start.chain, script], top: '' });
    }
  }
  for (const module of start.modules) {
    const files = resolveModule(state, module, sysPath.dirs);
    // `python -m package` runs the package's __main__ module after its __init__.
    if (files[files.length - 1]?.endsWith('/__init__.py')) files.push(...resolveModule(state, `${module}.__main__`, sysPath.dirs).slice(-1));
    if (!files.length) state.warn(`python module ${module} is not on the interpreter's sys.path (${sysPath.dirs.join(':')})`);
    entryLabels.push(`-m ${module}`);
    for (const file of files) queue.push({ file, chain: [...start.chain, module], top: module.split('.')[0]! });
  }
  if (start.code !== undefined) {
    entryLabels.push('python -c code');
    enqueueImports(state, scanPythonSource(start.code), `${start.workingDir}/-c`, [...start.chain, 'python -c'], '', sysPath, start, queue);
  }
  // site.py imports sitecustomize and usercustomize when they exist, and runs `import` lines of .pth files.
  for (const module of ['sitecustomize', 'usercustomize']) {
    for (const file of resolveModule(state, module, sysPath.dirs)) queue.push({ file, chain: [...start.chain, `${module} (imported by site)`], top: module });
  }
  for (const dir of sysPath.dirs) {
    for (const node of state.fs.list(dir).filter((entry) => entry.path.endsWith('.pth'))) {
      const lines = ((await state.readText(node.path)) ?? '').split('\n').filter((line) => /^import\s/.test(line.trim()));
      if (lines.length) enqueueImports(state, scanPythonSource(lines.join('\n')), node.path, [...start.chain, node.path], '', sysPath, start, queue);
    }
  }

  let count = 0;
  for (let index = 0; index < queue.length && count < MAX_FILES; index++) {
    const { file, chain, top } = queue[index]!;
    if (seen.has(file)) continue;
    seen.add(file);
    count++;
    state.reach(file, chain, 'python-imports');

    if (/\.so$/.test(file)) {
      state.elfRoots.push({ path: file, chain });
      continue;
    }
    const source = await state.readText(file);
    if (source === undefined) {
      if (!isStdlib(file, sysPath)) state.pythonUnknown.push(`${file} is imported but was not kept for analysis`);
      continue;
    }
    enqueueImports(state, scanPythonSource(source), file, chain, top, sysPath, start, queue);
  }

  if (count >= MAX_FILES) state.pythonUnknown.push(`the Python graph has more than ${MAX_FILES} files`);
  state.graphSummaries.push({ method: 'python-imports', text: `the Python import graph from ${entryLabels.join(', ') || 'its entry'} (${count} files)` });
}

function isStdlib(file: string, sysPath: SysPath): boolean {
  return sysPath.stdlib.some((dir) => file.startsWith(`${dir}/`) && !/\/(site|dist)-packages\//.test(file.slice(dir.length)));
}

function enqueueImports(
  state: ReachState,
  facts: PythonSourceFacts,
  file: string,
  chain: string[],
  top: string,
  sysPath: SysPath,
  start: PythonStart,
  queue: Array<{ file: string; chain: string[]; top: string }>,
): void {
  const stdlib = isStdlib(file, sysPath);
  if (!stdlib) {
    const server = start.server !== undefined && new RegExp(`/(site|dist)-packages/${start.server}/`).test(file);
    if (facts.computedImport && !server) {
      state.pythonUnknown.push(`${file} imports a module by a computed name`);
      state.warn(`${file} imports a module by a computed name, so Python packages stay UNKNOWN`);
    }
    if (facts.runsPrograms) state.execOpen.push(`${file} runs other programs (subprocess or os.system)`);
    if (facts.computedLibrary) state.dlopenOpen.push(`${file} loads a native library by a computed name (ctypes or cffi)`);
    for (const name of facts.libraries) state.dlopenNames.push({ name, reason: `${file} loads the library "${name}" with ctypes or cffi` });
  }

  for (const entry of facts.imports) {
    const base = entry.level > 0 ? relativeBase(file, entry.level) : undefined;
    const candidates = [entry.module, ...entry.names.map((name) => (entry.module ? `${entry.module}.${name}` : name))];

    for (const module of candidates) {
      if (!module) continue;
      const files = base !== undefined ? resolveIn(state, module, base) : resolveModule(state, module, sysPath.dirs);
      // `from x import y` names an attribute as often as a submodule, so a missing y is expected.
      if (!files.length) continue;
      const moduleTop = base !== undefined ? top : module.split('.')[0]!;
      const label = moduleTop !== top ? moduleTop : undefined;
      for (const target of files) queue.push({ file: target, chain: label ? [...chain, label] : chain, top: moduleTop });
    }
  }
}

/** Returns the folder a relative import starts from: the file's package, then one parent per extra dot. */
function relativeBase(file: string, level: number): string {
  let dir = parentOf(file);
  for (let step = 1; step < level; step++) dir = parentOf(dir);
  return dir;
}

/** Finds a dotted module on sys.path: the first folder that has its top-level package or module wins. */
function resolveModule(state: ReachState, module: string, dirs: string[]): string[] {
  for (const dir of dirs) {
    const files = resolveIn(state, module, dir);
    if (files.length) return files;
  }
  return [];
}

/** Lists the files that importing `a.b.c` from one folder runs: each package's __init__.py and the module itself. */
function resolveIn(state: ReachState, module: string, root: string): string[] {
  const fs = state.fs;
  const files: string[] = [];
  let dir = root;
  const parts = module.split('.').filter(Boolean);
  if (!parts.length) {
    const init = fs.resolvePath(`${root}/__init__.py`);
    return init ? [init] : [];
  }

  for (const [index, part] of parts.entries()) {
    const last = index === parts.length - 1;
    const packageDir = `${dir}/${part}`;
    const isDir = fs.resolve(packageDir)?.kind === 'directory';
    const init = isDir ? fs.resolvePath(`${packageDir}/__init__.py`) : undefined;

    if (isDir && (init || !findModuleFile(state, dir, part))) {
      // A regular package runs its __init__.py; a namespace package has none.
      if (init) files.push(init);
      dir = packageDir;
      continue;
    }
    const file = findModuleFile(state, dir, part);
    if (!file) return [];
    files.push(file);
    if (!last) return files;
  }
  return files;
}

/** name.py, or a C extension such as name.cpython-311-x86_64-linux-gnu.so or name.abi3.so. */
function findModuleFile(state: ReachState, dir: string, name: string): string | undefined {
  const source = state.fs.resolvePath(`${dir}/${name}.py`);
  if (source && state.fs.entry(source)?.kind !== 'directory') return source;

  const extension = state.names(dir).find((child) => child.startsWith(`${name}.`) && child.endsWith('.so'));
  return extension ? (state.fs.resolvePath(`${dir}/${extension}`) ?? `${dir}/${extension}`) : undefined;
}
