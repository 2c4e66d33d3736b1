import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readImageLayers, type ImageLayers } from '../packages/core/src/analysis/layers/index.ts';
import { packageInspectors, packageSelectors, readPackages } from '../packages/core/src/analysis/packages/index.ts';
import { buildOciLayout, type LayerEntry } from './support/oci-image.ts';

// A two-layer image built from this machine's own dpkg records, jars and Go binary, read through
// the real layer reader: the second layer upgrades libssl3, removes libxml2 and adds application
// packages.
const STATUS = '/var/lib/dpkg/status';
const INFO = '/var/lib/dpkg/info';
const ESBUILD = new URL('../node_modules/@esbuild/linux-x64/bin/esbuild', import.meta.url).pathname;
const ZOD = new URL('../node_modules/zod/package.json', import.meta.url).pathname;
const JAR = '/usr/share/java/commons-io-2.11.0.jar';
const ready = [STATUS, `${INFO}/libssl3:amd64.list`, `${INFO}/libxml2:amd64.list`, ESBUILD, JAR].every((path) => existsSync(path));

function listedPaths(name: string): string[] {
  return readFileSync(`${INFO}/${name}:amd64.list`, 'utf8').split('\n').filter((line) => line.startsWith('/'));
}

/** Converts a path of this machine to an image entry at its real location (under /usr on merged-/usr Debian); directories give none. */
function hostEntry(path: string, content?: string): LayerEntry | undefined {
  const real = join(realpathSync(dirname(path)), basename(path));
  const stat = lstatSync(real, { throwIfNoEntry: false });
  if (!stat || stat.isDirectory()) return undefined;
  if (stat.isSymbolicLink()) return { type: 'symlink', path: real, target: readlinkSync(real) };
  return { type: 'file', path: real, content: content ?? `file of the base layer: ${real}` };
}

function statusWithout(name: string): string {
  const paragraphs = readFileSync(STATUS, 'utf8').split('\n\n');
  return paragraphs.filter((paragraph) => !paragraph.startsWith(`Package: ${name}\n`)).join('\n\n');
}

describe.skipIf(!ready)('packages through the layer reader', () => {
  let work: string;
  let image: ImageLayers;
  const upgradedVersion = `${/^Version: (.*)$/m.exec(readFileSync(STATUS, 'utf8').split('\n\n').find((paragraph) => paragraph.startsWith('Package: libssl3\n'))!)![1]}+local1`;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'stratum-packages-'));
    const packages = ['libssl3', 'libxml2', 'libc6'];
    const base: LayerEntry[] = [
      ...['bin', 'lib', 'lib64', 'sbin'].filter((name) => lstatSync(`/${name}`).isSymbolicLink()).map((name): LayerEntry => ({ type: 'symlink', path: `/${name}`, target: readlinkSync(`/${name}`) })),
      { type: 'file', path: '/etc/os-release', fromHost: '/etc/os-release' },
      { type: 'file', path: STATUS, fromHost: STATUS },
      ...packages.map((name): LayerEntry => ({ type: 'file', path: `${INFO}/${name}:amd64.list`, fromHost: `${INFO}/${name}:amd64.list` })),
      ...packages.flatMap((name) => listedPaths(name).map((path) => hostEntry(path)).filter((entry): entry is LayerEntry => entry !== undefined)),
    ];
    const application: LayerEntry[] = [
      { type: 'file', path: STATUS, content: statusWithout('libxml2').replace(/(Package: libssl3\n(?:.+\n)*?)Version: .*/, `$1Version: ${upgradedVersion}`) },
      { type: 'file', path: `${INFO}/libssl3:amd64.list`, fromHost: `${INFO}/libssl3:amd64.list` },
      { type: 'file', path: '/usr/lib/x86_64-linux-gnu/libssl.so.3', content: 'upgraded library' },
      { type: 'whiteout', path: `${INFO}/libxml2:amd64.list` },
      ...listedPaths('libxml2')
        .map((path) => hostEntry(path))
        .filter((entry): entry is LayerEntry => entry !== undefined)
        .map((entry): LayerEntry => ({ type: 'whiteout', path: (entry as { path: string }).path })),
      { type: 'file', path: '/app/package.json', content: '{"name": "app", "version": "1.0.0"}' },
      { type: 'file', path: '/app/node_modules/zod/package.json', fromHost: ZOD },
      { type: 'file', path: '/app/lib/commons-io-2.11.0.jar', fromHost: realpathSync(JAR) },
      { type: 'file', path: '/usr/local/bin/esbuild', fromHost: ESBUILD, mode: 0o755 },
    ];

    const built = await buildOciLayout(join(work, 'layout'), {
      layers: [
        { compression: 'gzip', entries: base },
        { compression: 'zstd', entries: application },
      ],
    });
    image = await readImageLayers({ kind: 'oci-layout', path: built.dir }, { inspectors: packageInspectors, selectors: packageSelectors, tempRoot: work });
  });

  afterAll(async () => {
    await image?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  it('reads every ecosystem with its layer', async () => {
    const { packages, applicationRoots } = await readPackages(image.fs);
    const byName = new Map(packages.map((analyzed) => [analyzed.name, analyzed]));

    expect(byName.get('libssl3')?.version).toBe(upgradedVersion);
    expect(byName.get('libssl3')?.layerIndex).toBe(1);
    expect(byName.get('libssl3')?.files).toContain('/usr/lib/x86_64-linux-gnu/libssl.so.3');
    expect(byName.get('libc6')?.layerIndex).toBe(0);
    expect(byName.has('libxml2')).toBe(false);
    expect(byName.get('zod')?.layerIndex).toBe(1);
    expect(byName.get('commons-io:commons-io')?.purl).toBe('pkg:maven/commons-io/commons-io@2.11.0');
    expect(byName.get('golang.org/x/sys')?.location).toBe('/usr/local/bin/esbuild');
    expect(byName.get('stdlib')?.layerIndex).toBe(1);
    expect(applicationRoots).toEqual(['/app']);
  });
});
