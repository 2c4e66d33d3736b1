import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';

import { readGoBuildInfo } from './golang.ts';
import { normalizePythonName, readPackages } from './index.ts';
import { inspectJavaArchive } from './java.ts';
import { buildImage, type Layer, type LayerEntry } from './test-image.ts';

const REPOSITORY = new URL('../../../../../', import.meta.url).pathname.replace(/\/$/, '');

/** Adds a folder of this machine under another path of the image; only package.json files and the named files get their content. */
function addHostFolder(layer: Layer, hostFolder: string, imageFolder: string, withContent: (name: string) => boolean = (name) => name === 'package.json'): void {
  for (const entry of readdirSync(hostFolder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const hostPath = join(entry.parentPath, entry.name);
    const imagePath = join(imageFolder, relative(hostFolder, hostPath));
    layer.set(imagePath, withContent(entry.name) ? readFileSync(hostPath) : { emptyFile: 0 });
  }
}

function versionIn(manifest: string): string {
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

describe('npm packages', () => {
  function appLayer(): Layer {
    const layer: Layer = new Map<string, LayerEntry>([['/app/package.json', readFileSync(join(REPOSITORY, 'package.json'))]]);
    addHostFolder(layer, join(REPOSITORY, 'node_modules/zod'), '/app/node_modules/zod');
    addHostFolder(layer, join(REPOSITORY, 'node_modules/glob'), '/app/node_modules/glob');
    addHostFolder(layer, join(REPOSITORY, 'node_modules/@aws-sdk/client-ecr'), '/app/node_modules/@aws-sdk/client-ecr');
    return layer;
  }

  it('reads node_modules of this repository', async () => {
    const { packages, applicationRoots, warnings } = await readPackages(buildImage([appLayer()]));
    const zod = packages.filter((candidate) => candidate.name === 'zod');
    const glob = packages.find((candidate) => candidate.name === 'glob');
    const minimatch = packages.find((candidate) => candidate.location === '/app/node_modules/glob/node_modules/minimatch');
    const ecr = packages.find((candidate) => candidate.name === '@aws-sdk/client-ecr');

    expect(warnings).toEqual([]);
    expect(applicationRoots).toEqual(['/app']);
    expect(zod).toHaveLength(1);
    expect(zod[0]?.version).toBe(versionIn(join(REPOSITORY, 'node_modules/zod/package.json')));
    expect(zod[0]?.location).toBe('/app/node_modules/zod');
    expect(zod[0]?.source).toBe('/app/node_modules/zod/package.json');
    expect(zod[0]?.files).toContain('/app/node_modules/zod/v4/package.json');
    expect(minimatch?.version).toBe(versionIn(join(REPOSITORY, 'node_modules/glob/node_modules/minimatch/package.json')));
    expect(glob?.files.some((path) => path.includes('/node_modules/glob/node_modules/'))).toBe(false);
    expect(ecr?.purl).toBe(`pkg:npm/%40aws-sdk/client-ecr@${versionIn(join(REPOSITORY, 'node_modules/@aws-sdk/client-ecr/package.json'))}`);
  });

  it('places a replaced package in its layer', async () => {
    const manifest = JSON.parse(readFileSync(join(REPOSITORY, 'node_modules/zod/package.json'), 'utf8')) as Record<string, unknown>;
    const replaced = `${manifest.version}-patched.1`;
    const update: Layer = new Map<string, LayerEntry>([['/app/node_modules/zod/package.json', JSON.stringify({ ...manifest, version: replaced })]]);

    const { packages } = await readPackages(buildImage([appLayer(), update]));
    const zod = packages.find((candidate) => candidate.name === 'zod');

    expect(zod?.version).toBe(replaced);
    expect(zod?.layerIndex).toBe(1);
    expect(packages.find((candidate) => candidate.name === 'glob')?.layerIndex).toBe(0);
  });

  it('warns on an invalid package.json', async () => {
    const layer: Layer = new Map<string, LayerEntry>([
      ['/app/node_modules/broken/package.json', '{"name": "broken", '],
      ['/app/node_modules/nameless/package.json', '{"version": "1.0.0"}'],
    ]);

    const { packages, warnings } = await readPackages(buildImage([layer]));

    expect(packages).toEqual([]);
    expect(warnings[0]).toMatch(/^\/app\/node_modules\/broken\/package\.json: invalid JSON/);
    expect(warnings[1]).toBe('/app/node_modules/nameless/package.json: "name" and "version" must be non-empty strings; package skipped');
  });
});

const SITE_PACKAGES = '/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages';
const DIST_PACKAGES = '/usr/lib/python3/dist-packages';
const hasPython = existsSync(`${SITE_PACKAGES}/attrs-26.1.0.dist-info/RECORD`) && existsSync(`${DIST_PACKAGES}/PyJWT-2.6.0.egg-info/PKG-INFO`);

describe('python packages', () => {
  it.each([
    ['Django', 'django'],
    ['aws_sam_translator', 'aws-sam-translator'],
    ['zope.interface', 'zope-interface'],
    ['Foo__-.Bar', 'foo-bar'],
  ])('normalizes %s', (name, normalized) => {
    expect(normalizePythonName(name)).toBe(normalized);
  });

  it.skipIf(!hasPython)('reads dist-info and egg-info of this machine', async () => {
    const layer: Layer = new Map();
    addHostFolder(layer, `${SITE_PACKAGES}/attrs-26.1.0.dist-info`, '/usr/local/lib/python3.11/site-packages/attrs-26.1.0.dist-info', () => true);
    addHostFolder(layer, `${SITE_PACKAGES}/attrs`, '/usr/local/lib/python3.11/site-packages/attrs');
    addHostFolder(layer, `${SITE_PACKAGES}/attr`, '/usr/local/lib/python3.11/site-packages/attr');
    addHostFolder(layer, `${DIST_PACKAGES}/PyJWT-2.6.0.egg-info`, `${DIST_PACKAGES}/PyJWT-2.6.0.egg-info`, () => true);
    addHostFolder(layer, `${DIST_PACKAGES}/jwt`, `${DIST_PACKAGES}/jwt`);
    const record = readFileSync(`${SITE_PACKAGES}/attrs-26.1.0.dist-info/RECORD`, 'utf8');

    const { packages, warnings } = await readPackages(buildImage([layer]));
    const attrs = packages.find((candidate) => candidate.purl === 'pkg:pypi/attrs@26.1.0');
    const jwt = packages.find((candidate) => candidate.name === 'PyJWT');

    expect(warnings).toEqual([]);
    expect(attrs?.location).toBe('/usr/local/lib/python3.11/site-packages/attrs-26.1.0.dist-info');
    expect(attrs?.files).toContain('/usr/local/lib/python3.11/site-packages/attrs/__init__.py');
    // RECORD also lists compiled files that this machine never wrote; only existing ones stay.
    expect(attrs?.files.length).toBeLessThanOrEqual(record.trim().split('\n').length);
    expect(jwt?.purl).toBe('pkg:pypi/pyjwt@2.6.0');
    expect(jwt?.files).toContain(`${DIST_PACKAGES}/jwt/__init__.py`);
    expect(jwt?.files).toContain(`${DIST_PACKAGES}/PyJWT-2.6.0.egg-info/PKG-INFO`);
  });

  it('warns on metadata without a version', async () => {
    const layer: Layer = new Map<string, LayerEntry>([['/usr/lib/python3/site-packages/odd-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\nName: odd\n\nDescription without headers\n']]);

    const { packages, warnings } = await readPackages(buildImage([layer]));

    expect(packages).toEqual([]);
    expect(warnings).toEqual(['/usr/lib/python3/site-packages/odd-1.0.dist-info/METADATA: no Name or Version header; distribution skipped']);
  });
});

const JAVA = '/usr/share/java';
const hasJars = existsSync(`${JAVA}/commons-io-2.11.0.jar`) && existsSync(`${JAVA}/guice-servlet-4.2.3.jar`);

describe.skipIf(!hasJars)('java archives', () => {
  it('reads pom.properties and the manifest fallback', async () => {
    // Debian links the versioned names to the jars; the image gets the jars' content under the versioned names.
    const layer: Layer = new Map<string, LayerEntry>([
      [`${JAVA}/commons-io-2.11.0.jar`, readFileSync(`${JAVA}/commons-io-2.11.0.jar`)],
      [`${JAVA}/guice-servlet-4.2.3.jar`, readFileSync(`${JAVA}/guice-servlet-4.2.3.jar`)],
    ]);

    const { packages } = await readPackages(buildImage([layer]));

    expect(packages.map((candidate) => candidate.purl).sort()).toEqual(['pkg:maven/com.google.inject.servlet/guice-servlet@4.2.3', 'pkg:maven/commons-io/commons-io@2.11.0']);
    expect(packages.find((candidate) => candidate.name === 'commons-io:commons-io')?.location).toBe(`${JAVA}/commons-io-2.11.0.jar`);
  });

  it('reads jars nested in a Spring Boot jar', async () => {
    const nested = ['commons-io-2.11.0.jar', 'commons-lang3-3.12.0.jar', 'commons-cli-1.5.0.jar'];
    const bootJar = zipSync({
      'META-INF/MANIFEST.MF': new TextEncoder().encode('Manifest-Version: 1.0\nMain-Class: org.springframework.boot.loader.JarLauncher\n'),
      ...Object.fromEntries(nested.map((name) => [`BOOT-INF/lib/${name}`, [readFileSync(`${JAVA}/${name}`), { level: 0 }] as const])),
    });
    const later: Layer = new Map<string, LayerEntry>([['/app/app.jar', Buffer.from(bootJar)]]);

    const { packages } = await readPackages(buildImage([new Map(), later]));

    expect(packages.map((candidate) => candidate.location).sort()).toEqual(nested.map((name) => `/app/app.jar!/BOOT-INF/lib/${name}`).sort());
    for (const analyzed of packages) {
      expect(analyzed.location).toContain(`-${analyzed.version}.jar`);
      expect(analyzed.layerIndex).toBe(1);
      expect(analyzed.files).toEqual(['/app/app.jar']);
    }
  });

  it('notes a corrupt archive', async () => {
    const facts = inspectJavaArchive('/app/broken.jar', Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(100)]));

    expect(facts.artifacts).toEqual([]);
    expect(facts.errors).toHaveLength(1);
  });
});

const ESBUILD = join(REPOSITORY, 'node_modules/@esbuild/linux-x64/bin/esbuild');
const REGISTRY = '/usr/bin/docker-registry';

describe('go binaries', () => {
  it.skipIf(!existsSync(ESBUILD))('reads module build info of esbuild', async () => {
    const layer: Layer = new Map();
    layer.set('/usr/local/bin/esbuild', readFileSync(ESBUILD));

    const { packages } = await readPackages(buildImage([layer]));
    const stdlib = packages.find((candidate) => candidate.name === 'stdlib');
    const sys = packages.find((candidate) => candidate.name === 'golang.org/x/sys');

    expect(stdlib?.version).toMatch(/^go1\.\d+/);
    expect(readFileSync(ESBUILD).includes(stdlib!.version)).toBe(true);
    expect(sys?.purl).toMatch(/^pkg:golang\/golang\.org\/x\/sys@v0\.0\.0-\d{14}-[0-9a-f]{12}$/);
    expect(sys?.location).toBe('/usr/local/bin/esbuild');
    // The main module of a source build is "(devel)", which names no release.
    expect(packages.find((candidate) => candidate.name === 'github.com/evanw/esbuild')).toBeUndefined();
  });

  it.skipIf(!existsSync(REGISTRY))('reads a GOPATH-mode Debian build', () => {
    const info = readGoBuildInfo(readFileSync(REGISTRY));

    expect(info?.path).toBe('github.com/docker/distribution/cmd/registry');
    expect(info?.goVersion).toMatch(/^go1\.\d+/);
    expect(info?.deps).toEqual([]);
  });

  it('reads the pre-1.18 pointer format', () => {
    const modinfo = 'path\texample.com/old\nmod\texample.com/old\tv0.9.0\th1:a=\ndep\tgithub.com/pkg/errors\tv0.9.1\th1:b=\n';
    const binary = pointerBuildInfoElf('go1.16.15', modinfo);

    const info = readGoBuildInfo(binary);

    expect(info?.goVersion).toBe('go1.16.15');
    expect(info?.main).toEqual({ path: 'example.com/old', version: 'v0.9.0' });
    expect(info?.deps).toEqual([{ path: 'github.com/pkg/errors', version: 'v0.9.1' }]);
  });

  it('reads replacements', () => {
    const modinfo = ['path\texample.com/app', 'mod\texample.com/app\tv1.2.0\th1:abc=', 'dep\tgithub.com/a/b\tv1.0.0\th1:x=', '=>\tgithub.com/fork/b\tv1.0.1\th1:y=', 'dep\tgithub.com/c/d\tv0.3.0\th1:z=', '=>\t../d\t', ''].join('\n');
    const binary = inlineBuildInfo('go1.22.1', modinfo);

    const info = readGoBuildInfo(binary);

    expect(info).toEqual({
      goVersion: 'go1.22.1',
      path: 'example.com/app',
      main: { path: 'example.com/app', version: 'v1.2.0' },
      deps: [
        { path: 'github.com/a/b', version: 'v1.0.0', replace: { path: 'github.com/fork/b', version: 'v1.0.1' } },
        { path: 'github.com/c/d', version: 'v0.3.0', replace: { path: '../d' } },
      ],
    });
  });
});

/** Builds the Go 1.18+ inline layout: a 16-byte aligned header, then two varint-length strings at offset 32. */
function inlineBuildInfo(goVersion: string, modinfo: string): Buffer {
  const varint = (value: number) => Buffer.from([value & 0x7f | (value > 0x7f ? 0x80 : 0), ...(value > 0x7f ? [value >> 7] : [])]);
  const header = Buffer.alloc(32);
  header.write('\xff Go buildinf:', 0, 'latin1');
  header[14] = 8;
  header[15] = 2;
  const start = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
  const end = Buffer.from('f932433186182072008242104116d8f2', 'hex');
  const wrapped = Buffer.concat([start, Buffer.from(modinfo), end]);
  return Buffer.concat([Buffer.alloc(64), header, varint(goVersion.length), Buffer.from(goVersion), varint(wrapped.length), wrapped]);
}

/**
 * Builds a little-endian ELF64 file with one PT_LOAD segment that maps the whole file at
 * 0x400000, and the pre-1.18 build info layout. There the header contains pointers to two Go
 * string headers, which point to the string bytes.
 */
function pointerBuildInfoElf(goVersion: string, modinfo: string): Buffer {
  const base = 0x400000;
  const file = Buffer.alloc(0x1000);
  file.writeUInt32BE(0x7f454c46, 0);
  file[4] = 2; // ELFCLASS64
  file[5] = 1; // little-endian
  file.writeBigUInt64LE(64n, 0x20); // e_phoff
  file.writeUInt16LE(56, 0x36); // e_phentsize
  file.writeUInt16LE(1, 0x38); // e_phnum
  file.writeUInt32LE(1, 64); // PT_LOAD
  file.writeBigUInt64LE(0n, 64 + 0x08); // p_offset
  file.writeBigUInt64LE(BigInt(base), 64 + 0x10); // p_vaddr
  file.writeBigUInt64LE(BigInt(file.length), 64 + 0x20); // p_filesz

  file.write('\xff Go buildinf:', 0x100, 'latin1');
  file[0x100 + 14] = 8;
  file[0x100 + 15] = 0;
  file.writeBigUInt64LE(BigInt(base + 0x200), 0x110);
  file.writeBigUInt64LE(BigInt(base + 0x210), 0x118);

  const start = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
  const end = Buffer.from('f932433186182072008242104116d8f2', 'hex');
  const wrapped = Buffer.concat([start, Buffer.from(modinfo), end]);
  file.writeBigUInt64LE(BigInt(base + 0x300), 0x200);
  file.writeBigUInt64LE(BigInt(goVersion.length), 0x208);
  file.writeBigUInt64LE(BigInt(base + 0x400), 0x210);
  file.writeBigUInt64LE(BigInt(wrapped.length), 0x218);
  file.write(goVersion, 0x300, 'latin1');
  wrapped.copy(file, 0x400);
  return file;
}
