import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname } from 'node:path';

import type { ImageSpec, LayerEntry } from './oci-image.ts';

/**
 * Builds image specs from this machine's own Debian packages: their dpkg records and files.
 * The entrypoint /usr/bin/openssl links libssl.so.3 and libcrypto.so.3 but never libxml2, so
 * an analysis can tell a reachable library from an unreachable one in a real image.
 */

const STATUS = '/var/lib/dpkg/status';
const INFO = '/var/lib/dpkg/info';

/** The packages the image contains; libxml2 is installed but nothing the entrypoint starts loads it. */
export const BASE_PACKAGES = ['libc6', 'libssl3', 'libxml2'] as const;
export const APPLICATION_PACKAGES = ['openssl'] as const;

/** True on a Debian-family machine with the packages the image is built from. */
export const hasHostDebianPackages =
  existsSync(STATUS) && [...BASE_PACKAGES, ...APPLICATION_PACKAGES].every((name) => existsSync(listFile(name))) && existsSync('/usr/bin/openssl');

function listFile(name: string): string {
  const qualified = `${INFO}/${name}:amd64.list`;
  return existsSync(qualified) ? qualified : `${INFO}/${name}.list`;
}

/** Returns the dpkg status paragraph of an installed package, with its trailing blank line. */
export function statusParagraph(name: string): string {
  const paragraph = readFileSync(STATUS, 'utf8')
    .split('\n\n')
    .find((candidate) => candidate.startsWith(`Package: ${name}\n`));
  if (!paragraph) throw new Error(`${name} is not installed on this machine (${STATUS})`);
  return `${paragraph.trimEnd()}\n\n`;
}

/** Returns a field of an installed package's status paragraph, for example Version. */
export function statusField(name: string, field: string): string {
  const match = new RegExp(`^${field}: (.*)$`, 'm').exec(statusParagraph(name));
  if (!match) throw new Error(`${name} has no ${field} in ${STATUS}`);
  return match[1]!;
}

/**
 * Returns where a listed path really is. Debian 12 lists files under /lib while they live under
 * /usr/lib, so entries are written at the real path and the image gets the /lib symlinks.
 */
function realPath(path: string): string {
  try {
    return `${realpathSync(dirname(path))}/${basename(path)}`.replace(/^\/\//, '/');
  } catch {
    return path;
  }
}

/** Entries for the files, folders and symlinks a package lists, as they are on this machine. */
function packageEntries(name: string, seen: Set<string>): LayerEntry[] {
  const entries: LayerEntry[] = [];
  const listed = readFileSync(listFile(name), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('/') && line !== '/.');

  for (const original of listed) {
    const path = realPath(original);
    if (seen.has(path) || !existsSync(path)) continue;
    seen.add(path);

    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) entries.push({ type: 'symlink', path, target: readlinkSync(path) });
    else if (stat.isDirectory()) entries.push({ type: 'directory', path });
    else if (stat.isFile()) entries.push({ type: 'file', path, fromHost: path, mode: stat.mode & 0o7777 });
  }
  return entries;
}

/** Builds the status file with every installed package, and the file lists of the packages this layer installs. */
function dpkgEntries(installed: readonly string[], listed: readonly string[]): LayerEntry[] {
  return [
    { type: 'file', path: STATUS, content: installed.map(statusParagraph).join('') },
    ...listed.map((name): LayerEntry => ({ type: 'file', path: `${INFO}/${name}:amd64.list`, fromHost: listFile(name) })),
  ];
}

/**
 * Builds the spec of a two-layer image. The base layer has libc6, libssl3 and libxml2 with their
 * dpkg records. The application layer adds openssl and rewrites the status file, as apt-get install does.
 */
export function hostDebianImageSpec(options: { tag?: string } = {}): ImageSpec {
  const seen = new Set<string>();
  const root: LayerEntry[] = [
    { type: 'symlink', path: '/lib', target: 'usr/lib' },
    { type: 'symlink', path: '/lib64', target: 'usr/lib64' },
    { type: 'symlink', path: '/bin', target: 'usr/bin' },
    { type: 'symlink', path: '/sbin', target: 'usr/sbin' },
    { type: 'file', path: '/etc/os-release', content: readFileSync('/etc/os-release') },
  ];
  for (const path of ['/lib', '/lib64', '/bin', '/sbin', '/etc/os-release']) seen.add(path);

  const base = [...root, ...dpkgEntries(BASE_PACKAGES, BASE_PACKAGES), ...BASE_PACKAGES.flatMap((name) => packageEntries(name, seen))];
  const application = [...dpkgEntries([...BASE_PACKAGES, ...APPLICATION_PACKAGES], APPLICATION_PACKAGES), ...APPLICATION_PACKAGES.flatMap((name) => packageEntries(name, seen))];

  return {
    tag: options.tag,
    config: { Entrypoint: ['/usr/bin/openssl'], Cmd: ['version'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    layers: [
      { compression: 'gzip', entries: base, createdBy: 'debian base: libc6 libssl3 libxml2' },
      { compression: 'gzip', entries: application, createdBy: 'RUN apt-get install openssl' },
    ],
  };
}
