import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { readPackages } from './index.ts';
import { parseOsRelease } from './os-release.ts';
import { addHostPath, addHostRootLinks, buildImage, type Layer, type LayerEntry } from './test-image.ts';

// These tests read this machine's own dpkg database: Debian or Ubuntu with libssl3, libc6 and libxml2.
const hasDpkg = existsSync('/var/lib/dpkg/status') && existsSync('/var/lib/dpkg/info/libssl3:amd64.list');
const STATUS = '/var/lib/dpkg/status';
const INFO = '/var/lib/dpkg/info';

function installedVersion(name: string): string {
  return execFileSync('dpkg-query', ['-W', '-f', '${Version}', name], { encoding: 'utf8' });
}

function listOf(name: string): string {
  return `${INFO}/${name}:amd64.list`;
}

function listedPaths(name: string): string[] {
  return readFileSync(listOf(name), 'utf8').split('\n').filter((line) => line.startsWith('/'));
}

/** Builds a layer of the machine's status file, every info/*.list, os-release, and the files of the named packages. */
function hostBaseLayer(packagesWithFiles: string[]): Layer {
  const layer: Layer = new Map();
  addHostRootLinks(layer);
  addHostPath(layer, '/etc/os-release');
  addHostPath(layer, '/usr/lib/os-release');
  addHostPath(layer, STATUS);

  for (const name of readdirSync(INFO)) if (name.endsWith('.list')) addHostPath(layer, `${INFO}/${name}`);
  for (const name of packagesWithFiles) for (const path of listedPaths(name)) addHostPath(layer, path, { content: false });
  return layer;
}

/** The status file with one package's paragraph changed by `edit`, or dropped when `edit` returns undefined. */
function editedStatus(name: string, edit: (paragraph: string) => string | undefined): string {
  const paragraphs = readFileSync(STATUS, 'utf8').split('\n\n');
  const edited = paragraphs.map((paragraph) => (paragraph.startsWith(`Package: ${name}\n`) ? edit(paragraph) : paragraph));
  return edited.filter((paragraph): paragraph is string => paragraph !== undefined).join('\n\n');
}

function paragraphOf(name: string): string {
  const paragraph = readFileSync(STATUS, 'utf8').split('\n\n').find((candidate) => candidate.startsWith(`Package: ${name}\n`));
  if (!paragraph) throw new Error(`${name} is not in ${STATUS}`);
  return `${paragraph}\n`;
}

describe.skipIf(!hasDpkg)('dpkg packages', () => {
  it('reads the machine status file', async () => {
    const fs = buildImage([hostBaseLayer(['libssl3', 'libc6'])]);
    const osRelease = parseOsRelease(readFileSync('/etc/os-release', 'utf8'));
    const distro = `${osRelease.get('ID')}-${osRelease.get('VERSION_ID')}`;

    const { packages } = await readPackages(fs);
    const libssl = packages.find((candidate) => candidate.type === 'deb' && candidate.name === 'libssl3');

    expect(packages.filter((candidate) => candidate.type === 'deb')).toHaveLength(readFileSync(STATUS, 'utf8').match(/^Status: install ok installed$/gm)!.length);
    expect(libssl?.version).toBe(installedVersion('libssl3'));
    expect(libssl?.purl).toBe(`pkg:deb/${osRelease.get('ID')}/libssl3@${encodeURIComponent(installedVersion('libssl3'))}?arch=amd64&distro=${distro}`);
    expect(libssl?.sourceName).toBe('openssl');
    expect(libssl?.distro).toBe(distro);
    expect(libssl?.source).toBe(STATUS);
    expect(libssl?.files).toContain('/usr/lib/x86_64-linux-gnu/libssl.so.3');
    expect(libssl?.files).not.toContain('/usr/lib/x86_64-linux-gnu');
    expect(packages.find((candidate) => candidate.name === 'libc6')?.files).toContain('/usr/lib/x86_64-linux-gnu/libc.so.6');
  });

  it('places an upgraded package in the upgrading layer', async () => {
    const upgradedVersion = `${installedVersion('libssl3')}+local1`;
    const upgrade: Layer = new Map<string, LayerEntry>([
      [STATUS, editedStatus('libssl3', (paragraph) => paragraph.replace(/^Version: .*$/m, `Version: ${upgradedVersion}`))],
      [listOf('libssl3'), readFileSync(listOf('libssl3'))],
      ['/usr/lib/x86_64-linux-gnu/libssl.so.3', 'rebuilt library'],
    ]);
    const fs = buildImage([hostBaseLayer(['libssl3', 'libc6']), upgrade]);

    const { packages } = await readPackages(fs);
    const libssl = packages.find((candidate) => candidate.name === 'libssl3');
    const libc = packages.find((candidate) => candidate.name === 'libc6');

    expect(libssl?.version).toBe(upgradedVersion);
    expect(libssl?.layerIndex).toBe(1);
    expect(libc?.layerIndex).toBe(0);
  });

  it('drops a package removed in a later layer', async () => {
    const removal: Layer = new Map<string, string | null>([
      [STATUS, editedStatus('libxml2', () => undefined)],
      [listOf('libxml2'), null],
      // Whiteouts for the package's files only: its folders, such as /usr/lib, stay.
      ...listedPaths('libxml2')
        .filter((path) => !lstatSync(path).isDirectory())
        .map((path): [string, null] => [path, null]),
    ]);
    const fs = buildImage([hostBaseLayer(['libxml2', 'libc6']), removal]);

    const { packages } = await readPackages(fs);

    expect(packages.find((candidate) => candidate.name === 'libxml2')).toBeUndefined();
    expect(packages.find((candidate) => candidate.name === 'libc6')?.layerIndex).toBe(0);
  });

  it('keeps the install layer when a later layer edits a conffile', async () => {
    const edit: Layer = new Map<string, LayerEntry>([
      [STATUS, readFileSync(STATUS)],
      ['/etc/ld.so.conf.d/x86_64-linux-gnu.conf', '/opt/lib\n'],
    ]);
    const fs = buildImage([hostBaseLayer(['libc6']), edit]);

    const { packages } = await readPackages(fs);
    const libc = packages.find((candidate) => candidate.name === 'libc6');

    expect(libc?.files).toContain('/etc/ld.so.conf.d/x86_64-linux-gnu.conf');
    expect(libc?.layerIndex).toBe(0);
  });

  it('reads distroless status.d with md5sums', async () => {
    const base: Layer = new Map();
    addHostRootLinks(base);
    addHostPath(base, '/etc/os-release');
    for (const path of listedPaths('libc6')) addHostPath(base, path, { content: false });
    base.set('/var/lib/dpkg/status.d/libc6', paragraphOf('libc6').replace(/^Status: .*\n/m, ''));
    base.set('/var/lib/dpkg/status.d/libc6.md5sums', readFileSync(`${INFO}/libc6:amd64.md5sums`));

    const application: Layer = new Map();
    for (const path of listedPaths('libssl3')) addHostPath(application, path, { content: false });
    application.set('/var/lib/dpkg/status.d/libssl3', paragraphOf('libssl3').replace(/^Status: .*\n/m, ''));
    application.set('/var/lib/dpkg/status.d/libssl3.md5sums', readFileSync(`${INFO}/libssl3:amd64.md5sums`));

    const { packages, warnings } = await readPackages(buildImage([base, application]));
    const libc = packages.find((candidate) => candidate.name === 'libc6');
    const libssl = packages.find((candidate) => candidate.name === 'libssl3');

    expect(packages.map((candidate) => candidate.name)).toEqual(['libc6', 'libssl3']);
    expect(libc?.layerIndex).toBe(0);
    expect(libc?.source).toBe('/var/lib/dpkg/status.d/libc6');
    expect(libc?.files).toContain('/usr/lib/x86_64-linux-gnu/libc.so.6');
    expect(libssl?.layerIndex).toBe(1);
    expect(libssl?.version).toBe(installedVersion('libssl3'));
    expect(libssl?.files).toContain('/usr/lib/x86_64-linux-gnu/libssl.so.3');
    expect(warnings).toEqual([]);
  });

  it('warns on malformed lines and half-installed packages', async () => {
    const status = [
      paragraphOf('libc6'),
      paragraphOf('libssl3').replace(/^Status: .*$/m, 'Status: install reinstreq half-installed'),
      'this line has no field name\n' + paragraphOf('libxml2'),
      paragraphOf('zlib1g').replace(/^Version: .*\n/m, ''),
      'Status: install ok installed\nVersion: 1.0\n',
    ].join('\n');
    const lines = status.split('\n');
    const fs = buildImage([new Map([[STATUS, status]])]);

    const { packages, warnings } = await readPackages(fs);

    expect(packages.map((candidate) => candidate.name)).toEqual(['libc6', 'libxml2']);
    expect(warnings).toContain(`${STATUS}:${lines.indexOf('this line has no field name') + 1}: expected "Field: value", found "this line has no field name"`);
    expect(warnings.some((warning) => warning.includes('package libssl3 has Status "install reinstreq half-installed"'))).toBe(true);
    expect(warnings.some((warning) => warning.includes('package zlib1g has no Version field'))).toBe(true);
    expect(warnings.some((warning) => warning.endsWith('paragraph without a Package field; skipped'))).toBe(true);
    expect(warnings.some((warning) => warning.includes('2 installed packages have no /var/lib/dpkg/info/<package>.list'))).toBe(true);
  });
});
