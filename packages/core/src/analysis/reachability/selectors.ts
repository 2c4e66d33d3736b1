import type { ContentSelector } from '../model.ts';
import { baseName, normalizePath, parentOf } from '../filesystem.ts';
import type { StartConfig } from './start.ts';

/** Sizes above which a file is not kept. Larger sources are reported as unread, which makes their scope UNKNOWN. */
const CONFIG_MAX_BYTES = 64 * 1024;
const SCRIPT_MAX_BYTES = 256 * 1024;
const SOURCE_MAX_BYTES = 4 * 1024 * 1024;
/** Executables in bin folders at most this large may be scripts; compiled programs are larger and are read as ELF instead. */
const BIN_SCRIPT_MAX_BYTES = 64 * 1024;

const BIN_DIR = /(^|\/)(s?bin|\.bin)$/;

function selector(maxBytes: number, keep: (path: string) => boolean): ContentSelector {
  return { maxBytes, keep: (path, size) => size <= maxBytes && keep(path) };
}

/**
 * Selects the files the reachability analysis reads after the layers: the dynamic linker's
 * configuration, nsswitch.conf, scripts that may be started, and the JavaScript and Python
 * sources whose imports are followed.
 */
export function reachabilitySelectors(start: StartConfig): ContentSelector[] {
  const startPaths = new Set<string>();
  const workingDir = normalizePath(start.workingDir || '/');
  // Shell-form commands arrive as one `sh -c` string, so every word of every argument is a candidate path.
  for (const argument of [...(start.entrypoint ?? []), ...(start.cmd ?? [])]) {
    for (const word of argument.split(/[\s;&|'"]+/)) {
      if (word.includes('/') || /\.(sh|bash|js|mjs|cjs|py)$/.test(word)) startPaths.add(normalizePath(word, workingDir));
    }
  }

  return [
    selector(CONFIG_MAX_BYTES, (path) =>
      path === '/etc/ld.so.conf' ||
      path === '/etc/ld.so.preload' ||
      path === '/etc/nsswitch.conf' ||
      (parentOf(path) === '/etc/ld.so.conf.d' && path.endsWith('.conf')) ||
      /^\/etc\/ld-musl-[\w-]+\.path$/.test(path) ||
      path.endsWith('/pyvenv.cfg'),
    ),
    selector(SCRIPT_MAX_BYTES, (path) => startPaths.has(path) || path.endsWith('.sh') || path.endsWith('.bash')),
    selector(BIN_SCRIPT_MAX_BYTES, (path) => BIN_DIR.test(parentOf(path))),
    selector(SOURCE_MAX_BYTES, (path) => /\.(js|mjs|cjs|py|pth)$/.test(path) || baseName(path) === 'package.json'),
  ];
}
