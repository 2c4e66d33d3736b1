import { baseName, normalizePath, type ImageFileSystem } from '../filesystem.ts';

/** The parts of an image config that decide what a container starts. */
export interface StartConfig {
  entrypoint?: string[];
  cmd?: string[];
  /** KEY=value strings, as in the image config's Env. */
  env?: string[];
  workingDir?: string;
}

/** The PATH that Docker and containerd set when the image config has none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Returns the argv a container starts with: Entrypoint followed by Cmd, or Cmd alone. */
export function startArgv(config: StartConfig): string[] {
  return [...(config.entrypoint ?? []), ...(config.cmd ?? [])];
}

export function parseEnv(env: string[] | undefined): Map<string, string> {
  const values = new Map<string, string>();
  for (const entry of env ?? []) {
    const cut = entry.indexOf('=');
    if (cut > 0) values.set(entry.slice(0, cut), entry.slice(cut + 1));
  }
  return values;
}

/** A program found for a command name: the path the lookup found and where its links lead. */
export interface FoundProgram {
  path: string;
  real: string;
}

/**
 * Finds a command as execvp does: a name with a slash is a path (relative to the working
 * directory), any other name is looked up in each PATH entry in order. Only regular files
 * count, after following symlinks inside the image.
 */
export function findProgram(fs: ImageFileSystem, name: string, path: string[], workingDir: string): FoundProgram | undefined {
  if (name === '') return undefined;

  const candidates = name.includes('/') ? [normalizePath(name, workingDir)] : path.map((dir) => normalizePath(`${dir}/${name}`, workingDir));
  for (const candidate of candidates) {
    const real = fs.resolvePath(candidate);
    const node = real === undefined ? undefined : fs.entry(real);
    if (real !== undefined && node && (node.kind === 'file' || node.kind === 'hardlink')) return { path: candidate, real };
  }
  return undefined;
}

/** Returns the name a program was started as, from which busybox and other multi-call binaries pick what to run. */
export function commandName(found: FoundProgram, argv0: string): string {
  return baseName(argv0.includes('/') ? found.path : argv0);
}
