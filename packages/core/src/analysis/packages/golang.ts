import type { AnalyzedPackage, ContentInspector, FileNode } from '../model.ts';
import { buildPurl, excerpt, MiB, packageId, type ReaderContext } from './common.ts';

export const GO_BUILD_INFO_INSPECTOR = 'go-build-info';

/**
 * Go build info, as Go's debug/buildinfo package reads it: a 32-byte header that starts with
 * "\xff Go buildinf:" on a 16-byte boundary, then the pointer size (byte 14) and flags (byte 15).
 * Flag 0x2 (Go 1.18 and later) means the Go version and module info follow the header as two
 * varint-prefixed strings. Without it (older Go), bytes 16 on hold two pointers to Go string
 * headers in the binary's memory, in the byte order flag 0x1 gives (set for big-endian).
 */
const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const FLAG_BIG_ENDIAN = 0x1;
const FLAG_INLINE_STRINGS = 0x2;
/** cmd/go wraps the module info in these 16-byte markers (runtime/debug's modinfo). */
const MODINFO_START = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
const MODINFO_END = Buffer.from('f932433186182072008242104116d8f2', 'hex');
/** Module info is a few kilobytes even for large programs; more means the bytes are not build info. */
const MAX_STRING_BYTES = 4 * MiB;

export interface GoModule {
  path: string;
  version: string;
  /** The module that the build used in place of this one (a `replace` directive); a local folder has no version. */
  replace?: { path: string; version?: string };
}

export interface GoBuildInfo {
  /** For example 'go1.21.6'. */
  goVersion: string;
  /** The main package's import path. */
  path?: string;
  main?: GoModule;
  deps: GoModule[];
}

export const goBuildInfoInspector: ContentInspector<GoBuildInfo> = {
  name: GO_BUILD_INFO_INSPECTOR,
  maxBytes: 256 * MiB,
  // ELF binaries and libraries; Go also writes build info into Mach-O and PE files, which
  // images rarely contain, and those are read only in the inline format.
  wants: (_path, size, head) => size > 64 && head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46,
  inspect: (_path, content) => readGoBuildInfo(content),
};

/** Finds and decodes the build info; undefined for files that are not Go programs or whose build info is unreadable. */
export function readGoBuildInfo(content: Buffer): GoBuildInfo | undefined {
  for (let at = content.indexOf(MAGIC); at >= 0; at = content.indexOf(MAGIC, at + 1)) {
    if (at % 16 !== 0 || at + 32 > content.length) continue;

    const strings = readHeaderStrings(content, at);
    if (!strings) continue;

    const [goVersion, modinfo] = strings;
    if (!goVersion.startsWith('go') && !goVersion.startsWith('devel')) continue;
    return { goVersion, ...parseModuleInfo(stripMarkers(modinfo)) };
  }
  return undefined;
}

function readHeaderStrings(content: Buffer, at: number): [string, string] | undefined {
  const pointerSize = content[at + 14]!;
  const flags = content[at + 15]!;

  if (flags & FLAG_INLINE_STRINGS) {
    const version = readVarintString(content, at + 32);
    const modinfo = version && readVarintString(content, version.end);
    return version && modinfo ? [version.value, modinfo.value] : undefined;
  }

  if (pointerSize !== 4 && pointerSize !== 8) return undefined;
  const bigEndian = (flags & FLAG_BIG_ENDIAN) !== 0;
  const memory = elfMemory(content);
  if (!memory) return undefined;

  const versionAddress = readPointer(content, at + 16, pointerSize, bigEndian);
  const modinfoAddress = readPointer(content, at + 16 + pointerSize, pointerSize, bigEndian);
  const version = versionAddress === undefined ? undefined : readGoString(content, memory, versionAddress, pointerSize, bigEndian);
  const modinfo = modinfoAddress === undefined ? undefined : readGoString(content, memory, modinfoAddress, pointerSize, bigEndian);
  return version !== undefined && modinfo !== undefined ? [version, modinfo] : undefined;
}

function readVarintString(content: Buffer, at: number): { value: string; end: number } | undefined {
  let length = 0;
  let shift = 0;
  let position = at;

  for (;;) {
    if (position >= content.length || shift > 28) return undefined;
    const byte = content[position++]!;
    length += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(byte & 0x80)) break;
  }

  if (length > MAX_STRING_BYTES || position + length > content.length) return undefined;
  return { value: content.toString('latin1', position, position + length), end: position + length };
}

function readPointer(content: Buffer, at: number, size: number, bigEndian: boolean): number | undefined {
  if (at + size > content.length) return undefined;
  if (size === 4) return bigEndian ? content.readUInt32BE(at) : content.readUInt32LE(at);

  const value = bigEndian ? content.readBigUInt64BE(at) : content.readBigUInt64LE(at);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(value);
}

/** Reads a Go string header in memory: a data pointer followed by a length, each pointer-sized. */
function readGoString(content: Buffer, memory: MemoryMap, address: number, pointerSize: number, bigEndian: boolean): string | undefined {
  const headerOffset = memory(address, pointerSize * 2);
  if (headerOffset === undefined) return undefined;

  const dataAddress = readPointer(content, headerOffset, pointerSize, bigEndian);
  const length = readPointer(content, headerOffset + pointerSize, pointerSize, bigEndian);
  if (dataAddress === undefined || length === undefined || length > MAX_STRING_BYTES) return undefined;

  const dataOffset = memory(dataAddress, length);
  return dataOffset === undefined ? undefined : content.toString('latin1', dataOffset, dataOffset + length);
}

/** Maps a virtual address range to a file offset, or undefined when no loaded segment contains all of it. */
type MemoryMap = (address: number, length: number) => number | undefined;

/** Builds the address map from an ELF file's PT_LOAD program headers, with bounds checks on every field. */
function elfMemory(content: Buffer): MemoryMap | undefined {
  if (content.length < 52 || content.readUInt32BE(0) !== 0x7f454c46) return undefined;

  const is64 = content[4] === 2;
  const bigEndian = content[5] === 2;
  const u16 = (at: number) => (bigEndian ? content.readUInt16BE(at) : content.readUInt16LE(at));
  const u32 = (at: number) => (bigEndian ? content.readUInt32BE(at) : content.readUInt32LE(at));
  const word = (at: number) => (is64 ? readPointer(content, at, 8, bigEndian) : u32(at));

  if (is64 && content.length < 64) return undefined;
  const headerTable = word(is64 ? 0x20 : 0x1c);
  const entrySize = u16(is64 ? 0x36 : 0x2a);
  const entryCount = u16(is64 ? 0x38 : 0x2c);
  if (headerTable === undefined || entrySize < (is64 ? 56 : 32) || headerTable + entrySize * entryCount > content.length) return undefined;

  const segments: { address: number; offset: number; size: number }[] = [];
  for (let index = 0; index < entryCount; index++) {
    const at = headerTable + index * entrySize;
    if (u32(at) !== 1) continue; // PT_LOAD

    const offset = word(at + (is64 ? 0x08 : 0x04));
    const address = word(at + (is64 ? 0x10 : 0x08));
    const size = word(at + (is64 ? 0x20 : 0x10));
    if (offset !== undefined && address !== undefined && size !== undefined) segments.push({ address, offset, size });
  }

  return (address, length) => {
    for (const segment of segments) {
      if (address < segment.address || address + length > segment.address + segment.size) continue;
      const offset = segment.offset + (address - segment.address);
      return offset + length <= content.length ? offset : undefined;
    }
    return undefined;
  };
}

/** Takes the module info as raw bytes in a latin1 string and returns its text without the markers. */
function stripMarkers(modinfo: string): string {
  const bytes = Buffer.from(modinfo, 'latin1');
  const marked = bytes.length >= 33 && bytes.subarray(0, 16).equals(MODINFO_START) && bytes.subarray(-16).equals(MODINFO_END);
  return (marked ? bytes.subarray(16, -16) : bytes).toString('utf8');
}

/**
 * Module info is tab-separated lines (runtime/debug.BuildInfo's text form): "path <import path>",
 * "mod <path> <version> <sum>", "dep <path> <version> <sum>", and "=> <path> <version> <sum>",
 * which replaces the module on the line before it.
 */
function parseModuleInfo(modinfo: string): Omit<GoBuildInfo, 'goVersion'> {
  const info: Omit<GoBuildInfo, 'goVersion'> = { deps: [] };
  let last: GoModule | undefined;

  for (const line of modinfo.split('\n')) {
    const [kind, path, version] = line.split('\t');
    if (!path) continue;

    if (kind === 'path') info.path = path;
    else if (kind === 'mod') last = info.main = { path, version: version ?? '' };
    else if (kind === 'dep') info.deps.push((last = { path, version: version ?? '' }));
    else if (kind === '=>' && last) last.replace = version ? { path, version } : { path };
  }

  return info;
}

/** Turns the build info of every Go binary in the image into packages: each dependency, the main module when it has a version, and the standard library. */
export function readGoPackages(context: ReaderContext, binaries: FileNode[]): AnalyzedPackage[] {
  const packages: AnalyzedPackage[] = [];

  for (const binary of binaries) {
    const info = binary.facts?.[GO_BUILD_INFO_INSPECTOR] as GoBuildInfo | undefined;
    if (!info) continue;

    const modules = [...(info.main && isReleased(info.main.version) ? [info.main] : []), ...info.deps];
    for (const module of modules) {
      const analyzed = toPackage(context, binary, moduleInUse(module));
      if (analyzed) packages.push(analyzed);
    }

    // The standard library is compiled in, so it gets the toolchain's version, such as go1.21.6.
    // A development toolchain ("devel go1.23-abc123") names no release.
    const toolchain = info.goVersion.split(' ')[0]!;
    const stdlib = toolchain.startsWith('go') ? toPackage(context, binary, { path: 'stdlib', version: toolchain }) : undefined;
    if (stdlib) packages.push(stdlib);
  }

  return packages;
}

function isReleased(version: string): boolean {
  return version !== '' && version !== '(devel)';
}

/**
 * Returns the module whose code the binary contains. A replacement with a version is another published
 * module. A replacement by a local folder has no version, so the original path and version are
 * kept: the local code is most likely a patched copy of it, and reporting it keeps its known
 * vulnerabilities visible.
 */
function moduleInUse(module: GoModule): { path: string; version: string } {
  if (module.replace?.version) return { path: module.replace.path, version: module.replace.version };
  return { path: module.path, version: module.version };
}

function toPackage(context: ReaderContext, binary: FileNode, module: { path: string; version: string }): AnalyzedPackage | undefined {
  if (!isReleased(module.version)) return undefined;

  // purl-spec's golang type: the namespace is the module path up to its last '/'.
  const cut = module.path.lastIndexOf('/');
  const namespace = cut < 0 ? undefined : module.path.slice(0, cut);
  const name = module.path.slice(cut + 1);
  let purl: string;
  try {
    purl = buildPurl('golang', namespace, name, module.version);
  } catch (error) {
    context.warnings.push(`${binary.path}: module "${excerpt(module.path)}" has no valid package URL (${(error as Error).message}); skipped`);
    return undefined;
  }

  return {
    id: packageId(purl, binary.path),
    type: 'golang',
    name: module.path,
    version: module.version,
    purl,
    layerIndex: binary.layerIndex,
    source: binary.path,
    location: binary.path,
    files: [binary.path],
  };
}
