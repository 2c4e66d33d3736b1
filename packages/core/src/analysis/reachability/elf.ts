import type { ContentInspector } from '../model.ts';

/**
 * Reads the facts of an ELF file that linkage analysis needs: the program interpreter, the
 * dynamic section, and which process and loader functions the file imports. Every offset and
 * size read from the file is checked against the buffer, so a truncated or hostile file gives
 * fewer facts, never an out-of-range read.
 */

export const ELF_FACTS = 'elf';

/** The facts kept on FileNode.facts.elf. Kept small: no symbol tables, only what the analysis reads. */
export interface ElfFacts {
  bits: 32 | 64;
  endian: 'little' | 'big';
  /** e_machine, for example 62 for x86-64 and 183 for AArch64. */
  machine: number;
  /** e_type: 2 for an executable, 3 for a shared object or position-independent executable. */
  type: number;
  interpreter?: string;
  /** DT_NEEDED names in file order. */
  needed: string[];
  rpath?: string[];
  runpath?: string[];
  soname?: string;
  flags1?: number;
  /** True when the file has a dynamic section, false for statically linked programs. */
  dynamic: boolean;
  /** Imports dlopen (or dlmopen), so it can load libraries by name at run time. */
  importsDlopen: boolean;
  /** Imported functions that start other programs: execve and friends, system, posix_spawn, popen. */
  spawns: string[];
  /** For dlopen users: string literals that look like library names, name patterns or library directories. */
  loadStrings?: string[];
}

const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_LOAD = 1;
const SHT_DYNSYM = 11;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_SYMTAB = 6n;
const DT_SYMENT = 11n;
const DT_SONAME = 14n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;
const DT_FLAGS_1 = 0x6ffffffbn;

/** Bounds that keep a hostile file from costing much: counts of headers, symbols and kept strings. */
const MAX_HEADERS = 4096;
const MAX_DYNAMIC_ENTRIES = 8192;
const MAX_SYMBOLS = 200_000;
const MAX_LOAD_STRINGS = 64;
const MAX_STRING = 256;

const DLOPEN_NAMES = new Set(['dlopen', 'dlmopen']);
const SPAWN_NAMES = new Set([
  'execve', 'execv', 'execvp', 'execvpe', 'execl', 'execlp', 'execle', 'fexecve', 'execveat',
  'system', 'popen', 'posix_spawn', 'posix_spawnp',
]);

/** A library file name or name pattern (`libfoo.so.1`, `foo.so`, `lib%s.so`). */
const LIBRARY_NAME = /^[\w.+%-]+\.so(\.[\d%]+[\w.]*)*$/;
/** An absolute directory or file path below a library folder, or a folder that names plugins or modules. */
const LIBRARY_PATH = /^\/[\w.+%/-]+$/;
const LIBRARY_PATH_HINT = /(^\/(usr\/)?(local\/)?lib(32|64)?(\/|$))|\/(plugins?|modules?|engines?[\w.-]*|[\w.-]*-modules)(\/|$)|\.so(\.|$)/;

class Reader {
  constructor(
    readonly buf: Buffer,
    readonly bits: 32 | 64,
    readonly little: boolean,
  ) {}

  fits(offset: number, size: number): boolean {
    return Number.isSafeInteger(offset) && offset >= 0 && size >= 0 && offset + size <= this.buf.length;
  }

  u8(offset: number): number | undefined {
    return this.fits(offset, 1) ? this.buf[offset] : undefined;
  }

  u16(offset: number): number | undefined {
    if (!this.fits(offset, 2)) return undefined;
    return this.little ? this.buf.readUInt16LE(offset) : this.buf.readUInt16BE(offset);
  }

  u32(offset: number): number | undefined {
    if (!this.fits(offset, 4)) return undefined;
    return this.little ? this.buf.readUInt32LE(offset) : this.buf.readUInt32BE(offset);
  }

  /** Reads an address-sized unsigned value as a bigint, because dynamic tags need 64 bits. */
  word(offset: number): bigint | undefined {
    if (this.bits === 32) {
      const value = this.u32(offset);
      return value === undefined ? undefined : BigInt(value);
    }
    if (!this.fits(offset, 8)) return undefined;
    return this.little ? this.buf.readBigUInt64LE(offset) : this.buf.readBigUInt64BE(offset);
  }

  /** Reads an address-sized value as a number; returns undefined when it does not fit in one. */
  offset(offset: number): number | undefined {
    const value = this.word(offset);
    return value === undefined || value > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(value);
  }

  cString(offset: number, limit = this.buf.length): string | undefined {
    if (!this.fits(offset, 1)) return undefined;
    const end = this.buf.indexOf(0, offset);
    if (end < 0 || end > limit) return undefined;
    return this.buf.toString('latin1', offset, end);
  }
}

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

interface Section {
  type: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
  flags: number;
}

/** True when the bytes start with the ELF magic number. */
export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

/** Parses an ELF file; returns undefined when it is not ELF or its header is malformed. */
export function parseElf(buf: Buffer): ElfFacts | undefined {
  if (!isElf(buf) || buf.length < 52) return undefined;

  const bitsByte = buf[4];
  const dataByte = buf[5];
  if ((bitsByte !== 1 && bitsByte !== 2) || (dataByte !== 1 && dataByte !== 2)) return undefined;
  const reader = new Reader(buf, bitsByte === 1 ? 32 : 64, dataByte === 1);

  const segments = readSegments(reader);
  const sections = readSections(reader);
  const facts: ElfFacts = {
    bits: reader.bits,
    endian: reader.little ? 'little' : 'big',
    machine: reader.u16(18) ?? 0,
    type: reader.u16(16) ?? 0,
    needed: [],
    dynamic: false,
    importsDlopen: false,
    spawns: [],
  };

  const interp = segments.find((segment) => segment.type === PT_INTERP);
  if (interp) facts.interpreter = reader.cString(interp.offset, interp.offset + interp.filesz);

  const dynamic = segments.find((segment) => segment.type === PT_DYNAMIC);
  const dynamicTags = dynamic ? readDynamic(reader, dynamic) : [];
  if (dynamic) readDynamicStrings(reader, facts, dynamicTags, segments);

  const imports = readImports(reader, sections, dynamicTags, segments);
  facts.importsDlopen = [...imports].some((name) => DLOPEN_NAMES.has(name));
  facts.spawns = [...imports].filter((name) => SPAWN_NAMES.has(name)).sort();
  if (facts.importsDlopen) facts.loadStrings = readLoadStrings(reader, sections);

  return facts;
}

function readSegments(reader: Reader): Segment[] {
  const is64 = reader.bits === 64;
  const phoff = reader.offset(is64 ? 32 : 28);
  const entsize = reader.u16(is64 ? 54 : 42);
  const count = Math.min(reader.u16(is64 ? 56 : 44) ?? 0, MAX_HEADERS);
  if (phoff === undefined || !entsize) return [];

  const segments: Segment[] = [];
  for (let i = 0; i < count; i++) {
    const base = phoff + i * entsize;
    const type = reader.u32(base);
    const offset = reader.offset(base + (is64 ? 8 : 4));
    const vaddr = reader.offset(base + (is64 ? 16 : 8));
    const filesz = reader.offset(base + (is64 ? 32 : 16));
    if (type === undefined || offset === undefined || vaddr === undefined || filesz === undefined) break;
    segments.push({ type, offset, vaddr, filesz });
  }
  return segments;
}

function readSections(reader: Reader): Section[] {
  const is64 = reader.bits === 64;
  const shoff = reader.offset(is64 ? 40 : 32);
  const entsize = reader.u16(is64 ? 58 : 46);
  const count = Math.min(reader.u16(is64 ? 60 : 48) ?? 0, MAX_HEADERS);
  if (!shoff || !entsize) return [];

  const sections: Section[] = [];
  for (let i = 0; i < count; i++) {
    const base = shoff + i * entsize;
    const type = reader.u32(base + 4);
    const flags = reader.offset(base + 8);
    const offset = reader.offset(base + (is64 ? 24 : 16));
    const size = reader.offset(base + (is64 ? 32 : 20));
    const link = reader.u32(base + (is64 ? 40 : 24));
    const sectionEntsize = reader.offset(base + (is64 ? 56 : 36));
    if (type === undefined || flags === undefined || offset === undefined || size === undefined || link === undefined || sectionEntsize === undefined) break;
    sections.push({ type, offset, size, link, entsize: sectionEntsize, flags });
  }
  return sections;
}

function readDynamic(reader: Reader, dynamic: Segment): Array<[bigint, bigint]> {
  const entsize = reader.bits === 64 ? 16 : 8;
  const tags: Array<[bigint, bigint]> = [];

  for (let i = 0; i < MAX_DYNAMIC_ENTRIES && (i + 1) * entsize <= dynamic.filesz; i++) {
    const base = dynamic.offset + i * entsize;
    const tag = reader.word(base);
    const value = reader.word(base + entsize / 2);
    if (tag === undefined || value === undefined || tag === 0n) break;
    tags.push([tag, value]);
  }
  return tags;
}

/** Maps a virtual address to a file offset through the PT_LOAD segments, as the loader would. */
function fileOffset(segments: Segment[], address: number): number | undefined {
  for (const segment of segments) {
    if (segment.type !== PT_LOAD) continue;
    if (address >= segment.vaddr && address < segment.vaddr + segment.filesz) return segment.offset + (address - segment.vaddr);
  }
  return undefined;
}

function readDynamicStrings(reader: Reader, facts: ElfFacts, tags: Array<[bigint, bigint]>, segments: Segment[]): void {
  facts.dynamic = true;
  const strtabAddress = tags.find(([tag]) => tag === DT_STRTAB)?.[1];
  const strtab = strtabAddress === undefined || strtabAddress > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : fileOffset(segments, Number(strtabAddress));
  const stringAt = (value: bigint): string | undefined => {
    if (strtab === undefined || value > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    return reader.cString(strtab + Number(value));
  };
  const paths = (value: bigint): string[] => (stringAt(value) ?? '').split(':').filter(Boolean);

  for (const [tag, value] of tags) {
    if (tag === DT_NEEDED) {
      const name = stringAt(value);
      if (name) facts.needed.push(name);
    } else if (tag === DT_SONAME) facts.soname = stringAt(value);
    else if (tag === DT_RPATH) facts.rpath = [...(facts.rpath ?? []), ...paths(value)];
    else if (tag === DT_RUNPATH) facts.runpath = [...(facts.runpath ?? []), ...paths(value)];
    else if (tag === DT_FLAGS_1 && value <= 0xffffffffn) facts.flags1 = Number(value);
  }
}

/**
 * Collects the names of undefined (imported) dynamic symbols from the .dynsym section. Without
 * section headers it reads the table from DT_SYMTAB up to DT_STRTAB, because linkers place the
 * string table right after the symbol table.
 */
function readImports(reader: Reader, sections: Section[], tags: Array<[bigint, bigint]>, segments: Segment[]): Set<string> {
  const imports = new Set<string>();
  const symbolSize = reader.bits === 64 ? 24 : 16;
  let table: { offset: number; count: number; strtab: number; strsize: number } | undefined;

  const dynsym = sections.find((section) => section.type === SHT_DYNSYM);
  const linked = dynsym ? sections[dynsym.link] : undefined;
  if (dynsym && linked) {
    table = { offset: dynsym.offset, count: Math.floor(dynsym.size / (dynsym.entsize || symbolSize)), strtab: linked.offset, strsize: linked.size };
  } else {
    const symtab = tags.find(([tag]) => tag === DT_SYMTAB)?.[1];
    const strtab = tags.find(([tag]) => tag === DT_STRTAB)?.[1];
    const syment = Number(tags.find(([tag]) => tag === DT_SYMENT)?.[1] ?? BigInt(symbolSize));
    const symOffset = symtab === undefined ? undefined : fileOffset(segments, Number(symtab));
    const strOffset = strtab === undefined ? undefined : fileOffset(segments, Number(strtab));
    if (symOffset !== undefined && strOffset !== undefined && strOffset > symOffset && syment > 0) {
      table = { offset: symOffset, count: Math.floor((strOffset - symOffset) / syment), strtab: strOffset, strsize: reader.buf.length - strOffset };
    }
  }
  if (!table) return imports;

  for (let i = 0; i < Math.min(table.count, MAX_SYMBOLS); i++) {
    const base = table.offset + i * symbolSize;
    const nameOffset = reader.u32(base);
    const sectionIndex = reader.u16(base + (reader.bits === 64 ? 6 : 14));
    if (nameOffset === undefined || sectionIndex === undefined) break;
    if (sectionIndex !== 0 || nameOffset === 0 || nameOffset >= table.strsize) continue;

    const name = reader.cString(table.strtab + nameOffset, table.strtab + table.strsize);
    // Versioned names such as dlopen@GLIBC_2.34 appear only in readelf's output. The table contains the bare name.
    if (name && (DLOPEN_NAMES.has(name) || SPAWN_NAMES.has(name))) imports.add(name);
  }
  return imports;
}

/** '.so', which every LIBRARY_NAME match contains, and '/', with which every LIBRARY_PATH match starts. */
const SO_BYTES = Buffer.from('.so', 'latin1');
const NUL = 0;
const SLASH = 0x2f;

/**
 * Collects string literals that look like library names or library folders from the read-only
 * data of a dlopen user. Only allocated, non-executable, non-writable PROGBITS sections are
 * read (.rodata and friends); without section headers the whole file is scanned. A literal is a
 * run of 4 to MAX_STRING bytes that ends in a NUL, and the first MAX_LOAD_STRINGS distinct
 * matches in file order are kept.
 */
function readLoadStrings(reader: Reader, sections: Section[]): string[] {
  const SHF_WRITE = 1;
  const SHF_ALLOC = 2;
  const SHF_EXECINSTR = 4;
  const SHT_PROGBITS = 1;
  const ranges = sections.length
    ? sections.filter((s) => s.type === SHT_PROGBITS && s.flags & SHF_ALLOC && !(s.flags & (SHF_WRITE | SHF_EXECINSTR)))
    : [{ offset: 0, size: reader.buf.length }];
  const found = new Set<string>();

  for (const range of ranges) {
    if (found.size >= MAX_LOAD_STRINGS) break;
    if (!reader.fits(range.offset, range.size)) continue;

    const data = reader.buf.subarray(range.offset, range.offset + range.size);
    for (const [start, end] of candidateRuns(data)) {
      const text = data.toString('latin1', start, end);
      if (LIBRARY_NAME.test(text) || (LIBRARY_PATH.test(text) && LIBRARY_PATH_HINT.test(text))) found.add(text);
      if (found.size >= MAX_LOAD_STRINGS) break;
    }
  }
  return [...found].sort();
}

/** A NUL-terminated run of bytes: `start` is its first byte, `end` the index of its NUL. */
interface Run {
  start: number;
  end: number;
}

/**
 * Yields, in file order, the NUL-terminated runs of `data` that are 4 to MAX_STRING bytes long
 * and either contain '.so' or start with '/', since no other run can match LIBRARY_NAME or
 * LIBRARY_PATH. Finding those two patterns with Buffer.indexOf yields the same runs as testing
 * every run of the section, several times faster, and still reads each byte a bounded number of times.
 */
function* candidateRuns(data: Buffer): Generator<[number, number]> {
  let library = nextRunWithSo(data, 0);
  let path = nextRunFromSlash(data, 0);

  while (library || path) {
    if (library && (!path || library.start <= path.start)) {
      yield [library.start, library.end];
      // A run that starts with '/' and contains '.so' is found by both searches but yielded once.
      if (path?.start === library.start) path = nextRunFromSlash(data, path.end + 1);
      library = nextRunWithSo(data, library.end + 1);
    } else if (path) {
      yield [path.start, path.end];
      path = nextRunFromSlash(data, path.end + 1);
    }
  }
}

/** Returns the first run of a candidate length at or after `from` that contains '.so'. */
function nextRunWithSo(data: Buffer, from: number): Run | undefined {
  for (let at = data.indexOf(SO_BYTES, from); at >= 0; at = data.indexOf(SO_BYTES, from)) {
    const end = data.indexOf(NUL, at);
    // Without a NUL after it, neither this run nor any later one is terminated inside the data.
    if (end < 0) return undefined;

    // The scan back stops at the NUL before the run, so it never reads an earlier run again.
    let start = at;
    while (start > 0 && data[start - 1] !== NUL && end - start <= MAX_STRING) start--;
    if (end - start >= 4 && end - start <= MAX_STRING && (start === 0 || data[start - 1] === NUL)) return { start, end };
    from = end + 1;
  }
  return undefined;
}

/** Returns the first run of a candidate length at or after `from` that starts with '/'. */
function nextRunFromSlash(data: Buffer, from: number): Run | undefined {
  // Searching for '/' alone is much faster than for NUL followed by '/', because NUL bytes are everywhere in binary data.
  for (let at = data.indexOf(SLASH, from); at >= 0; at = data.indexOf(SLASH, from)) {
    from = at + 1;
    if (at > 0 && data[at - 1] !== NUL) continue;

    const limit = Math.min(data.length, at + MAX_STRING + 1);
    let end = at;
    while (end < limit && data[end] !== NUL) end++;
    if (end === limit) continue;
    if (end - at >= 4) return { start: at, end };
    from = end + 1;
  }
  return undefined;
}

/** Extracts ElfFacts from every ELF file in the image, up to 256 MiB each. */
export const elfInspector: ContentInspector<ElfFacts> = {
  name: ELF_FACTS,
  maxBytes: 256 * 1024 * 1024,
  wants: (_path, size, head) => size >= 52 && isElf(head),
  inspect: (_path, content) => parseElf(content),
};
