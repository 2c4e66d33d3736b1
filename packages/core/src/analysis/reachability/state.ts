import type { ImageFileSystem } from '../filesystem.ts';
import { DEFAULT_PATH, parseEnv, type StartConfig } from './start.ts';
import { normalizePath } from '../filesystem.ts';
import { ELF_FACTS, type ElfFacts } from './elf.ts';

const MAX_WARNINGS = 200;

/** The way a file was reached: a chain a person can follow, and the analysis that followed it. */
export interface Reach {
  chain: string[];
  method: string;
}

/** A Node.js program to analyse: its entry files or code, and whether its child processes are already followed. */
export interface NodeStart {
  interpreter: string;
  entries: string[];
  /** Source passed with -e or -p. */
  code?: string;
  workingDir: string;
  chain: string[];
  /** npm runs package scripts with child processes, which the analysis follows itself. */
  childProcessesFollowed: boolean;
}

export interface PythonStart {
  interpreter: string;
  scripts: string[];
  modules: string[];
  code?: string;
  workingDir: string;
  chain: string[];
  /**
   * The server package (gunicorn, uvicorn and the like) that imports the application named on
   * its command line by a computed name. The analysis follows that name itself.
   */
  server?: string;
}

/**
 * Everything the analysis learns while it follows the start command: the files it reached and
 * why, and the reasons the result may be incomplete. Verdicts are decided from this at the end.
 */
export class ReachState {
  readonly env: Map<string, string>;
  readonly path: string[];
  readonly workingDir: string;
  readonly warnings = new Set<string>();
  droppedWarnings = 0;
  readonly #names = new Map<string, string[]>();
  #executables: Map<string, string[]> | undefined;

  /** Files reached, by resolved path; the first (shortest) chain is kept. */
  readonly reached = new Map<string, Reach>();
  /** Commands already followed, by their argv, so that loops in scripts end. */
  readonly launched = new Set<string>();
  /** Started programs, as their chains end. */
  readonly started: string[] = [];
  /** ELF files whose linkage is followed, with the chain that reached them. */
  readonly elfRoots: Array<{ path: string; chain: string[] }> = [];

  /** Reasons that programs the analysis cannot see may run, such as a computed command or a program that imports execve. */
  readonly execOpen: string[] = [];
  /** Why anything at all may run: an interpreter or program whose code the analysis does not follow. */
  readonly opaque: string[] = [];
  /** Files in the linkage closure that import dlopen and give no names the analysis can see. */
  readonly dlopenOpen: string[] = [];
  /** Libraries that a dlopen user may load, by resolved path, with the reason. */
  readonly dlopenCandidates = new Map<string, string>();
  /** Library names that application code loads by name (Python ctypes, for example), with the reason. */
  readonly dlopenNames: Array<{ name: string; reason: string }> = [];

  readonly nodeStarts: NodeStart[] = [];
  readonly pythonStarts: PythonStart[] = [];
  /** Node.js scopes the analysis could not follow: folders whose packages are UNKNOWN, with the reason. */
  readonly nodeUnknownScopes: Array<{ dirs: string[]; reason: string }> = [];
  /** Python interpreters whose imports could not be followed completely, with the reason. */
  readonly pythonUnknown: string[] = [];
  /** Entry points of the language graphs, with their file counts, for UNREACHABLE evidence. */
  readonly graphSummaries: Array<{ method: string; text: string }> = [];

  constructor(
    readonly fs: ImageFileSystem,
    config: StartConfig,
  ) {
    this.env = parseEnv(config.env);
    this.workingDir = normalizePath(config.workingDir || '/');
    this.path = (this.env.get('PATH') ?? DEFAULT_PATH).split(':').filter(Boolean);
  }

  /** Records that a file is reached; returns false when it was reached before. */
  reach(path: string, chain: string[], method: string): boolean {
    const real = this.fs.resolvePath(path) ?? path;
    if (this.reached.has(real)) return false;
    this.reached.set(real, { chain, method });
    return true;
  }

  /** Names directly in a folder (after following links), cached because import resolution lists the same folders often. */
  names(dir: string): string[] {
    const real = this.fs.resolvePath(dir) ?? dir;
    let names = this.#names.get(real);
    if (!names) {
      names = this.fs.list(real).map((node) => node.path.slice(node.path.lastIndexOf('/') + 1));
      this.#names.set(real, names);
    }
    return names;
  }

  /** Executable files of this name in any bin or sbin folder of the image. */
  executablesNamed(name: string): string[] {
    if (!this.#executables) {
      this.#executables = new Map();
      for (const node of this.fs.entries()) {
        if (node.kind === 'directory' || !/\/s?bin\/[^/]+$/.test(node.path)) continue;
        const base = node.path.slice(node.path.lastIndexOf('/') + 1);
        const real = this.fs.resolve(node.path);
        if (!real || real.kind !== 'file' || !(real.mode & 0o111)) continue;
        this.#executables.set(base, [...(this.#executables.get(base) ?? []), node.path]);
      }
    }
    return this.#executables.get(name) ?? [];
  }

  elf(path: string): ElfFacts | undefined {
    return this.fs.resolve(path)?.facts?.[ELF_FACTS] as ElfFacts | undefined;
  }

  async readText(path: string): Promise<string | undefined> {
    const content = await this.fs.read(path);
    return content?.toString('utf8');
  }

  /** Adds a warning; past MAX_WARNINGS distinct messages they are only counted, so a huge image cannot flood the result. */
  warn(message: string): void {
    if (this.warnings.size < MAX_WARNINGS || this.warnings.has(message)) this.warnings.add(message);
    else this.droppedWarnings++;
  }

  /** Returns the warnings, with a last line that counts those left out. */
  warningList(): string[] {
    const list = [...this.warnings];
    if (this.droppedWarnings) list.push(`${this.droppedWarnings} more reachability warnings were left out`);
    return list;
  }
}
