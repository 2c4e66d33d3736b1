import { execFileSync } from 'node:child_process';
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { ImageFileSystem, normalizePath, parentOf } from '../filesystem.ts';
import type { AnalyzedPackage, ContentSelector, FileNode } from '../model.ts';
import { elfInspector } from './elf.ts';
import { reachabilitySelectors } from './selectors.ts';
import type { StartConfig } from './start.ts';

/**
 * Test support: an ImageFileSystem filled from this machine's own files, as the layer reader
 * would fill it. ELF files get the inspector's facts, and files the reachability selectors
 * keep are readable through fs.read (read from the host on demand). Host symlinks on the way
 * to a copied file are copied as symlinks, so usrmerge layouts (/lib -> usr/lib) stay real.
 */
export class HostImage {
  readonly fs = new ImageFileSystem();
  readonly #content = new Map<string, { host?: string; inline?: Buffer }>();
  readonly #selectors: ContentSelector[];

  constructor(readonly config: StartConfig) {
    this.#selectors = reachabilitySelectors(config);
    this.fs.setContentReader(async (node) => {
      const source = this.#content.get(node.path);
      if (!source) return undefined;
      return source.inline ?? readFileSync(source.host!);
    });
  }

  /** Adds a file with the given content. */
  file(path: string, content: string | Buffer, mode = 0o644): this {
    const buffer = typeof content === 'string' ? Buffer.from(content) : content;
    this.#addFile(normalizePath(path), buffer.length, mode, () => buffer, { inline: buffer });
    return this;
  }

  symlink(path: string, target: string): this {
    this.fs.add({ path: normalizePath(path), kind: 'symlink', size: 0, mode: 0o777, linkTarget: target, layerIndex: 0 });
    return this;
  }

  /** Copies a host path into the same image path, with every symlink met on the way; folders are copied whole. */
  host(hostPath: string): this {
    let current = '';
    const parts = normalizePath(hostPath).split('/').filter(Boolean);

    for (let index = 0; index < parts.length; index++) {
      current = `${current}/${parts[index]}`;
      const stat = lstatSync(current);
      if (stat.isSymbolicLink()) {
        const target = readlinkSync(current);
        if (!this.fs.entry(current)) this.symlink(current, target);
        // Continue along the link target, then with the rest of the path.
        this.host(normalizePath([target, ...parts.slice(index + 1)].join('/'), parentOf(current)));
        return this;
      }
      if (index === parts.length - 1) {
        if (stat.isDirectory()) this.#tree(current);
        else if (stat.isFile()) this.#hostFile(current, stat.size, stat.mode & 0o7777);
      }
    }
    return this;
  }

  /** Copies a program and every library `ldd` lists for it, as the machine's dynamic linker finds them. */
  program(hostPath: string): this {
    this.host(hostPath);
    const output = execFileSync('ldd', [hostPath], { encoding: 'utf8' });
    for (const match of output.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) this.host(match[1]!);
    return this;
  }

  /** Symlinks of a merged-/usr Debian image. */
  usrMerge(): this {
    for (const dir of ['bin', 'sbin', 'lib', 'lib64']) if (!this.fs.entry(`/${dir}`)) this.symlink(`/${dir}`, `usr/${dir}`);
    return this;
  }

  /**
   * Builds a Debian package as the package reader reports it, from this machine's dpkg status
   * and file list, with only the files present in the image.
   */
  dpkg(name: string): AnalyzedPackage {
    const status = readFileSync('/var/lib/dpkg/status', 'utf8');
    const record = status.split('\n\n').find((paragraph) => new RegExp(`^Package: ${name.replace(/[.+]/g, '\\$&')}$`, 'm').test(paragraph));
    if (!record) throw new Error(`dpkg package ${name} is not installed on this machine`);
    const field = (key: string): string | undefined => new RegExp(`^${key}: (.*)$`, 'm').exec(record)?.[1];
    const version = field('Version')!;
    const architecture = field('Architecture') ?? 'all';

    let list = '';
    for (const file of [`/var/lib/dpkg/info/${name}:${architecture}.list`, `/var/lib/dpkg/info/${name}.list`]) {
      try {
        list = readFileSync(file, 'utf8');
        break;
      } catch {
        continue;
      }
    }
    const files = list.split('\n').filter((path) => path && this.fs.resolve(path)?.kind === 'file');
    return {
      id: `pkg:deb/debian/${name}@${version}`,
      type: 'deb',
      name,
      version,
      purl: `pkg:deb/debian/${name}@${version}?arch=${architecture}`,
      layerIndex: 0,
      source: '/var/lib/dpkg/status',
      files,
      sourceName: field('Source')?.split(' ')[0],
    };
  }

  /** Builds an npm package as the package reader reports it, from its package.json and every file below its folder. */
  npm(location: string): AnalyzedPackage {
    const manifest = JSON.parse(readFileSync(this.#content.get(`${location}/package.json`)?.host ?? `${location}/package.json`, 'utf8')) as { name: string; version: string };
    const files = [...this.fs.entries()].filter((node) => node.kind === 'file' && node.path.startsWith(`${location}/`)).map((node) => node.path);
    return {
      id: `pkg:npm/${manifest.name}@${manifest.version}#${location}`,
      type: 'npm',
      name: manifest.name,
      version: manifest.version,
      purl: `pkg:npm/${manifest.name.replace('@', '%40')}@${manifest.version}`,
      layerIndex: 0,
      source: `${location}/package.json`,
      location,
      files,
    };
  }

  /** Copies a host folder tree to another image folder, for application code such as node_modules. */
  copyTree(hostDir: string, imageDir: string): this {
    for (const entry of readdirSync(hostDir, { withFileTypes: true })) {
      const from = `${hostDir}/${entry.name}`;
      const to = `${imageDir}/${entry.name}`;
      if (entry.isSymbolicLink()) this.symlink(to, readlinkSync(from));
      else if (entry.isDirectory()) this.copyTree(from, to);
      else if (entry.isFile()) {
        const stat = lstatSync(from);
        this.#addFile(to, stat.size, stat.mode & 0o7777, () => readFileSync(from), { host: from });
      }
    }
    return this;
  }

  #tree(dir: string): void {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isSymbolicLink()) this.symlink(path, readlinkSync(path));
      else if (entry.isDirectory()) this.#tree(path);
      else if (entry.isFile()) {
        const stat = lstatSync(path);
        this.#hostFile(path, stat.size, stat.mode & 0o7777);
      }
    }
  }

  #hostFile(path: string, size: number, mode: number): void {
    this.#addFile(path, size, mode, () => readFileSync(path), { host: path });
  }

  #addFile(path: string, size: number, mode: number, read: () => Buffer, source: { host?: string; inline?: Buffer }): void {
    const node: FileNode = { path, kind: 'file', size, mode, layerIndex: 0 };
    const head = source.inline?.subarray(0, 64) ?? readHead(source.host!);
    if (elfInspector.wants(path, size, head)) {
      const facts = elfInspector.inspect(path, read());
      if (facts) node.facts = { [elfInspector.name]: facts };
    }
    if (this.#selectors.some((selector) => selector.keep(path, size))) {
      node.stored = true;
      this.#content.set(path, source);
    }
    this.fs.add(node);
  }
}

function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64);
    const read = readSync(fd, head, 0, 64, 0);
    return head.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}
