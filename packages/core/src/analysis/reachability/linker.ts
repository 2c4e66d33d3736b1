import { baseName, normalizePath, parentOf, type ImageFileSystem } from '../filesystem.ts';
import type { ElfFacts } from './elf.ts';
import { ELF_FACTS } from './elf.ts';

/**
 * Library lookup as the dynamic linker does it, inside the image: glibc's ld.so and musl's
 * loader. The ld.so.cache is not read; the folders ld.so.conf names stand in for it, because
 * ldconfig builds the cache from exactly those folders.
 */

/** Debian multiarch triplets and the $PLATFORM value, by e_machine, for the default search folders. */
const MACHINES: Record<number, { triplets: string[]; platform: string; musl: string }> = {
  3: { triplets: ['i386-linux-gnu'], platform: 'i686', musl: 'i386' },
  40: { triplets: ['arm-linux-gnueabihf', 'arm-linux-gnueabi'], platform: 'v7l', musl: 'armhf' },
  62: { triplets: ['x86_64-linux-gnu'], platform: 'x86_64', musl: 'x86_64' },
  183: { triplets: ['aarch64-linux-gnu'], platform: 'aarch64', musl: 'aarch64' },
  21: { triplets: ['powerpc64le-linux-gnu', 'powerpc64-linux-gnu'], platform: 'powerpc64le', musl: 'ppc64le' },
  22: { triplets: ['s390x-linux-gnu'], platform: 's390x', musl: 's390x' },
  243: { triplets: ['riscv64-linux-gnu'], platform: 'riscv64', musl: 'riscv64' },
};

/** Library names that musl's loader resolves to itself, because its libc contains libdl, libpthread, libm and the rest. */
const MUSL_BUILTIN = /^lib(c|dl|m|pthread|rt|util|xnet|crypt|resolv)\.so(\.|$)/;

export interface LinkerConfig {
  /** Folders from /etc/ld.so.conf and its includes, in order. */
  ldSoConf: string[];
  /** Folders from /etc/ld-musl-ARCH.path, by musl architecture name. */
  muslPaths: Map<string, string[]>;
  ldLibraryPath: string[];
  preload: string[];
}

/** Reads the loader configuration the image carries. */
export async function readLinkerConfig(fs: ImageFileSystem, env: Map<string, string>, warn: (message: string) => void): Promise<LinkerConfig> {
  const ldSoConf: string[] = [];
  await readLdSoConf(fs, '/etc/ld.so.conf', ldSoConf, new Set(), warn);

  const muslPaths = new Map<string, string[]>();
  for (const node of fs.list('/etc')) {
    const match = /^\/etc\/ld-musl-([\w-]+)\.path$/.exec(node.path);
    const text = match ? (await fs.read(node.path))?.toString('utf8') : undefined;
    if (match && text !== undefined) muslPaths.set(match[1]!, text.split(/[\n:]/).map((line) => line.trim()).filter((line) => line.startsWith('/')));
  }

  const preloadFile = (await fs.read('/etc/ld.so.preload'))?.toString('utf8') ?? '';
  const preload = [...preloadFile.split(/[\s:]+/), ...(env.get('LD_PRELOAD') ?? '').split(/[\s:]+/)].filter(Boolean);
  const ldLibraryPath = (env.get('LD_LIBRARY_PATH') ?? '').split(/[:;]/).filter(Boolean);
  return { ldSoConf, muslPaths, ldLibraryPath, preload };
}

async function readLdSoConf(fs: ImageFileSystem, path: string, dirs: string[], seen: Set<string>, warn: (message: string) => void): Promise<void> {
  if (seen.has(path) || seen.size > 64) return;
  seen.add(path);
  const text = (await fs.read(path))?.toString('utf8');
  if (text === undefined) return;

  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/#.*/, '').trim();
    if (!line) continue;
    const include = /^include\s+(.+)$/.exec(line);
    if (include) {
      for (const pattern of include[1]!.split(/\s+/)) {
        for (const file of expandGlob(fs, normalizePath(pattern, parentOf(path)))) await readLdSoConf(fs, file, dirs, seen, warn);
      }
    } else if (line.startsWith('hwcap')) {
      continue;
    } else {
      for (const dir of line.split(/[\s:,=]+/)) if (dir.startsWith('/')) dirs.push(normalizePath(dir));
    }
  }
}

/** Expands `*`, `?` and `[...]` in the last path component, sorted as glob(3) does. */
function expandGlob(fs: ImageFileSystem, pattern: string): string[] {
  const dir = parentOf(pattern);
  const name = baseName(pattern);
  if (!/[*?[]/.test(name)) return [pattern];

  const regex = new RegExp(`^${name.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  const real = fs.resolvePath(dir) ?? dir;
  return fs.list(real).map((node) => baseName(node.path)).filter((child) => regex.test(child)).sort().map((child) => `${dir}/${child}`);
}

/** A library found for a DT_NEEDED name. */
export interface FoundLibrary {
  /** The path the search found, before links are followed. */
  path: string;
  real: string;
}

export interface LinkedObject {
  /** The path the object was loaded from; $ORIGIN is its folder. */
  path: string;
  facts: ElfFacts;
}

/**
 * Finds a DT_NEEDED name for an object. `loaders` are the objects that led to it, nearest
 * first, and the executable last: glibc also searches their DT_RPATH when the object has no
 * DT_RUNPATH.
 */
export function findLibrary(fs: ImageFileSystem, config: LinkerConfig, name: string, object: LinkedObject, loaders: LinkedObject[], interpreter: string | undefined): FoundLibrary | undefined {
  const machine = MACHINES[object.facts.machine];
  const musl = interpreter !== undefined && /ld-musl-/.test(interpreter);

  if (name.includes('/')) return accept(fs, normalizePath(name, parentOf(object.path)), object.facts);
  if (musl && MUSL_BUILTIN.test(name) && interpreter) {
    const real = fs.resolvePath(interpreter);
    if (real) return { path: interpreter, real };
  }

  const dirs: string[] = [];
  if (musl) {
    dirs.push(...config.ldLibraryPath);
    dirs.push(...expand(object.facts.rpath ?? [], object), ...expand(object.facts.runpath ?? [], object));
    const musPath = config.muslPaths.get(machine?.musl ?? '') ?? [...config.muslPaths.values()][0];
    dirs.push(...(musPath ?? ['/lib', '/usr/local/lib', '/usr/lib']));
  } else {
    if (!object.facts.runpath?.length) {
      for (const loader of [object, ...loaders]) {
        if (loader.facts.runpath?.length) break;
        dirs.push(...expand(loader.facts.rpath ?? [], loader));
      }
    }
    dirs.push(...config.ldLibraryPath);
    dirs.push(...expand(object.facts.runpath ?? [], object));
    dirs.push(...config.ldSoConf);
    for (const triplet of machine?.triplets ?? []) dirs.push(`/lib/${triplet}`, `/usr/lib/${triplet}`);
    if (object.facts.bits === 64) dirs.push('/lib64', '/usr/lib64');
    else dirs.push('/lib32', '/usr/lib32');
    dirs.push('/lib', '/usr/lib');
  }

  for (const dir of dirs) {
    const found = accept(fs, normalizePath(`${dir}/${name}`), object.facts);
    if (found) return found;
  }
  return undefined;
}

/** Accepts a candidate file when it exists and, as ld.so checks, has the ELF class and machine of the object that needs it. */
function accept(fs: ImageFileSystem, path: string, needer: ElfFacts): FoundLibrary | undefined {
  const real = fs.resolvePath(path);
  const node = real === undefined ? undefined : fs.entry(real);
  if (real === undefined || !node || (node.kind !== 'file' && node.kind !== 'hardlink')) return undefined;

  const facts = node.facts?.[ELF_FACTS] as ElfFacts | undefined;
  if (facts && (facts.bits !== needer.bits || facts.machine !== needer.machine)) return undefined;
  return { path, real };
}

/** Expands $ORIGIN, $LIB and $PLATFORM (also in ${...} form); $LIB and $PLATFORM give every value they can take. */
function expand(dirs: string[], object: LinkedObject): string[] {
  const machine = MACHINES[object.facts.machine];
  const libs = object.facts.bits === 64 ? ['lib64', 'lib', ...(machine?.triplets.map((t) => `lib/${t}`) ?? [])] : ['lib', 'lib32', ...(machine?.triplets.map((t) => `lib/${t}`) ?? [])];
  const results: string[] = [];

  for (const dir of dirs) {
    const origin = dir.replace(/\$(\{ORIGIN\}|ORIGIN)/g, parentOf(object.path));
    for (const lib of /\$(\{LIB\}|LIB)/.test(origin) ? libs : ['']) {
      const withLib = origin.replace(/\$(\{LIB\}|LIB)/g, lib);
      const withPlatform = withLib.replace(/\$(\{PLATFORM\}|PLATFORM)/g, machine?.platform ?? '');
      if (withPlatform.startsWith('/')) results.push(normalizePath(withPlatform));
    }
  }
  return results;
}
