import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { BatchGetImageCommand, ECRClient, GetDownloadUrlForLayerCommand } from '@aws-sdk/client-ecr';
import { DistributionRegistry, EcrRegistry } from '@stratum/core';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readImageLayers, type ImageLayers, type ImageSource, type ReadImageOptions } from '../packages/core/src/analysis/layers/index.ts';
import type { ContentInspector, ContentSelector, FileNode } from '../packages/core/src/analysis/model.ts';
import { buildDockerArchive, buildOciLayout, type BuiltImage, type ImageSpec, type LayerSpec } from './support/oci-image.ts';
import { freePort, REGISTRY_BINARY, startRegistry, type TestRegistry } from './support/registry.ts';

const HOST_LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const MIB = 1024 * 1024;

/** Reads the ELF class and type from the header, as a real ELF inspector would start. */
const elfInspector: ContentInspector<{ class: number; type: number }> = {
  name: 'elf',
  maxBytes: 64 * MIB,
  wants: (_path, _size, head) => head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])),
  inspect: (_path, content) => ({ class: content[4]!, type: content.readUInt16LE(16) }),
};

const keepPackageFiles: ContentSelector = {
  maxBytes: MIB,
  keep: (path) => path.startsWith('/var/lib/dpkg/') || path.endsWith('/package.json') || path.endsWith('.py'),
};

const STATUS_V1 = 'Package: libexample\nStatus: install ok installed\nVersion: 1.0-1\n\n';
const STATUS_V2 = 'Package: libexample\nStatus: install ok installed\nVersion: 1.1-1\n\n';

/** Builds a base layer, an upgrade with whiteouts and an opaque directory, and an application layer. */
function layeredImage(compressions: [LayerSpec['compression'], LayerSpec['compression'], LayerSpec['compression']]): ImageSpec {
  return {
    tag: 'layered',
    config: { Entrypoint: ['/usr/bin/python3', '/app/main.py'], Env: ['PATH=/usr/local/bin:/usr/bin:/bin'] },
    layers: [
      {
        compression: compressions[0],
        entries: [
          { type: 'directory', path: '/usr/lib', mode: 0o755 },
          { type: 'file', path: '/usr/lib/libssl.so.3', fromHost: HOST_LIBSSL },
          { type: 'file', path: '/usr/lib/libold.so.1', content: 'old library\n' },
          // usrmerge: /lib is a relative symlink to usr/lib, as on Debian 12.
          { type: 'symlink', path: '/lib', target: 'usr/lib' },
          { type: 'file', path: '/usr/bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
          { type: 'file', path: '/var/lib/dpkg/status', content: STATUS_V1 },
          { type: 'file', path: '/opt/cache/first', content: 'one' },
          { type: 'file', path: '/opt/cache/second', content: 'two' },
          { type: 'file', path: '/etc/motd', content: 'hello\n' },
          { type: 'hardlink', path: '/etc/motd.link', target: '/etc/motd' },
        ],
      },
      {
        compression: compressions[1],
        entries: [
          { type: 'whiteout', path: '/usr/lib/libold.so.1' },
          { type: 'file', path: '/var/lib/dpkg/status', content: STATUS_V2 },
          // The new file comes before the opaque marker: the marker must still hide only lower layers.
          { type: 'file', path: '/opt/cache/third', content: 'three' },
          { type: 'opaque', path: '/opt/cache' },
          { type: 'whiteout', path: '/etc/motd' },
          // Written below the usrmerge symlink, as an old package would; it lands in /usr/lib.
          { type: 'file', path: '/lib/libnew.so.2', content: 'new library\n' },
        ],
      },
      {
        compression: compressions[2],
        entries: [
          { type: 'file', path: '/app/package.json', content: '{"name":"app","version":"1.0.0"}' },
          { type: 'file', path: '/app/main.py', content: 'import json\n' },
          { type: 'file', path: '/app/README', content: 'not kept' },
        ],
      },
    ],
  };
}

function options(overrides: Partial<ReadImageOptions> = {}): ReadImageOptions {
  return { inspectors: [elfInspector], selectors: [keepPackageFiles], ...overrides };
}

/** Path, kind, layer and link target of every node, for comparing two reads of the same image. */
function listing(layers: ImageLayers): string[] {
  return [...layers.fs.entries()].map((node: FileNode) => `${node.path} ${node.kind} ${node.layerIndex} ${node.linkTarget ?? ''}`);
}

describe('readImageLayers', () => {
  let workDir: string;
  let tempRoot: string;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'stratum-layers-test-'));
    tempRoot = join(workDir, 'temp');
    await mkdir(tempRoot);
  });

  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  async function layout(name: string, spec: ImageSpec): Promise<BuiltImage> {
    return buildOciLayout(join(workDir, name), spec);
  }

  async function read(source: ImageSource, overrides: Partial<ReadImageOptions> = {}): Promise<ImageLayers> {
    return readImageLayers(source, options({ tempRoot, ...overrides }));
  }

  describe('merged file system', () => {
    let image: BuiltImage;
    let result: ImageLayers;

    beforeAll(async () => {
      image = await layout('layered', layeredImage(['gzip', 'zstd', 'none']));
      const keepMotd: ContentSelector = { maxBytes: MIB, keep: (path) => path === '/etc/motd' };
      result = await read({ kind: 'oci-layout', path: image.dir, reference: 'layered' }, { selectors: [keepPackageFiles, keepMotd] });
    });

    afterAll(async () => {
      await result?.dispose();
    });

    it('returns manifest, config and layer digests', () => {
      expect(result.manifestDigest).toBe(image.manifestDigest);
      expect(result.imageId).toBe(image.imageId);
      expect(result.layers.map((layer) => layer.digest)).toEqual(image.layers.map((layer) => layer.digest));
      expect(result.layers.map((layer) => layer.diffId)).toEqual(image.layers.map((layer) => layer.diffId));
      expect(result.config.config?.Entrypoint).toEqual(['/usr/bin/python3', '/app/main.py']);
    });

    it('counts entries and bytes per layer', () => {
      expect(result.layers.map((layer) => layer.entries)).toEqual([10, 6, 3]);
      expect(result.layers.map((layer) => layer.bytes)).toEqual(image.layers.map((layer) => layer.tarSize));
    });

    it('removes a whited-out file', () => {
      expect(result.fs.entry('/usr/lib/libold.so.1')).toBeUndefined();
      expect(result.fs.entry('/etc/motd')).toBeUndefined();
    });

    it('shows the upgraded package database', async () => {
      expect(result.fs.entry('/var/lib/dpkg/status')?.layerIndex).toBe(1);
      expect((await result.fs.read('/var/lib/dpkg/status'))?.toString()).toBe(STATUS_V2);
    });

    it('hides lower layers below an opaque directory', () => {
      expect(result.fs.list('/opt/cache').map((node) => node.path)).toEqual(['/opt/cache/third']);
    });

    it('follows the usrmerge symlink', () => {
      expect(result.fs.entry('/lib')).toMatchObject({ kind: 'symlink', linkTarget: 'usr/lib' });
      expect(result.fs.resolvePath('/lib/libssl.so.3')).toBe('/usr/lib/libssl.so.3');
    });

    it('writes through a symlinked parent', () => {
      expect(result.fs.entry('/usr/lib/libnew.so.2')).toMatchObject({ kind: 'file', layerIndex: 1 });
      expect(result.fs.entry('/lib')?.kind).toBe('symlink');
    });

    it('keeps inspector facts on the node', () => {
      // ELFCLASS64 is 2 and ET_DYN (a shared object) is 3.
      expect(result.fs.resolve('/lib/libssl.so.3')?.facts).toEqual({ elf: { class: 2, type: 3 } });
      expect(result.fs.entry('/usr/bin/tool')?.facts).toBeUndefined();
    });

    it('keeps file modes and sizes', async () => {
      expect(result.fs.entry('/usr/bin/tool')?.mode).toBe(0o755);
      expect(result.fs.entry('/usr/lib/libssl.so.3')?.size).toBe((await stat(HOST_LIBSSL)).size);
    });

    it('keeps a hardlink whose target was deleted', async () => {
      expect(result.fs.entry('/etc/motd.link')).toMatchObject({ kind: 'hardlink', linkTarget: '/etc/motd' });
      expect((await result.fs.read('/etc/motd.link'))?.toString()).toBe('hello\n');
    });

    it('reads back selected files only', async () => {
      expect((await result.fs.read('/app/main.py'))?.toString()).toBe('import json\n');
      expect(result.fs.entry('/app/main.py')?.stored).toBe(true);
      expect(await result.fs.read('/app/README')).toBeUndefined();
    });

    it('reports no warnings', () => {
      expect(result.warnings).toEqual([]);
    });
  });

  describe('sources', () => {
    let reference: ImageLayers;
    let expected: string[];

    beforeAll(async () => {
      const image = await layout('reference', layeredImage(['none', 'none', 'none']));
      reference = await read({ kind: 'oci-layout', path: image.dir });
      expected = listing(reference);
    });

    afterAll(async () => {
      await reference?.dispose();
    });

    it.each([
      ['gzip layers', ['gzip', 'gzip', 'gzip']],
      ['zstd layers', ['zstd', 'zstd', 'zstd']],
    ] as const)('OCI layout with %s', async (name, compressions) => {
      const image = await layout(name.replace(' ', '-'), layeredImage([...compressions]));
      const result = await read({ kind: 'oci-layout', path: image.dir });

      expect(listing(result)).toEqual(expected);
      expect((await result.fs.read('/var/lib/dpkg/status'))?.toString()).toBe(STATUS_V2);
      await result.dispose();
    });

    it('OCI layout behind a nested index', async () => {
      const image = await layout('nested', { ...layeredImage(['gzip', 'zstd', 'none']), nestedIndex: true });
      const result = await read({ kind: 'oci-layout', path: image.dir, reference: 'layered' });

      expect(result.manifestDigest).toBe(image.manifestDigest);
      expect(listing(result)).toEqual(expected);
      await result.dispose();
    });

    it.each(['classic', 'oci'] as const)('docker save archive, %s layout', async (archiveLayout) => {
      const file = join(workDir, `${archiveLayout}.tar`);
      const archive = await buildDockerArchive(file, { ...layeredImage(['none', 'none', 'none']), layout: archiveLayout });
      const result = await read({ kind: 'docker-archive', path: file });

      expect(result.imageId).toBe(archive.imageId);
      expect(result.manifestDigest).toBe(archive.manifestDigest);
      expect(listing(result)).toEqual(expected);
      expect((await result.fs.read('/app/package.json'))?.toString()).toBe('{"name":"app","version":"1.0.0"}');
      await result.dispose();
    });

    it('docker save archive by repository tag', async () => {
      const file = join(workDir, 'tagged.tar');
      await buildDockerArchive(file, { ...layeredImage(['none', 'none', 'none']), tag: 'team/app:2.0', layout: 'classic' });

      const result = await read({ kind: 'docker-archive', path: file, reference: 'team/app:2.0' });
      expect(listing(result)).toEqual(expected);
      await result.dispose();

      await expect(read({ kind: 'docker-archive', path: file, reference: 'team/app:3.0' })).rejects.toThrow(`${file} has no image tagged team/app:3.0; it contains: team/app:2.0`);
    });

    it('rejects an unknown tag, listing the known ones', async () => {
      const dir = join(workDir, 'two-tags');
      await buildOciLayout(dir, { tag: 'one', layers: [{ compression: 'none', entries: [{ type: 'file', path: '/a', content: 'a' }] }] });
      await buildOciLayout(dir, { tag: 'two', layers: [{ compression: 'none', entries: [{ type: 'file', path: '/b', content: 'b' }] }] });

      await expect(read({ kind: 'oci-layout', path: dir, reference: 'three' })).rejects.toThrow(`${dir} has no image named three; it contains: one, two`);
      await expect(read({ kind: 'oci-layout', path: dir })).rejects.toThrow(`${dir} contains 2 images; name one with a reference: one, two`);

      const two = await read({ kind: 'oci-layout', path: dir, reference: 'two' });
      expect([...two.fs.entries()].map((node) => node.path)).toEqual(['/b']);
      await two.dispose();
    });
  });

  describe.skipIf(!existsSync(REGISTRY_BINARY))('registry source', () => {
    let registry: TestRegistry;

    beforeAll(async () => {
      const registryDir = join(workDir, 'registry');
      await mkdir(registryDir);
      registry = await startRegistry({ workDir: registryDir, port: await freePort() });
    }, 30_000);

    afterAll(async () => {
      await registry?.stop();
    });

    it('streams layers from the registry', async () => {
      const image = await layout('to-push', layeredImage(['gzip', 'zstd', 'gzip']));
      const pushedDigest = await registry.push(`oci:${image.dir}:layered`, 'team/layered', '1.0');
      const client = new DistributionRegistry({ url: registry.url });

      const result = await read({ kind: 'registry', registry: client, repository: 'team/layered', reference: '1.0' });

      expect(result.manifestDigest).toBe(pushedDigest);
      expect(result.imageId).toBe(image.imageId);
      expect(result.layers.map((layer) => layer.diffId)).toEqual(image.layers.map((layer) => layer.diffId));
      expect((await result.fs.read('/var/lib/dpkg/status'))?.toString()).toBe(STATUS_V2);
      expect(result.fs.resolve('/lib/libssl.so.3')?.facts).toEqual({ elf: { class: 2, type: 3 } });
      await result.dispose();
    });
  });

  describe('Amazon ECR source', () => {
    const ecrMock = mockClient(ECRClient);
    let server: Server;
    let image: BuiltImage;
    let downloadBase: string;

    beforeAll(async () => {
      image = await layout('ecr', layeredImage(['gzip', 'zstd', 'none']));
      // Stands in for the pre-signed S3 URLs that GetDownloadUrlForLayer returns.
      server = createServer((request, response) => {
        const hex = request.url?.match(/^\/blobs\/sha256:([0-9a-f]{64})$/)?.[1];
        if (!hex) {
          response.writeHead(404).end();
          return;
        }
        createReadStream(join(image.dir, 'blobs', 'sha256', hex)).pipe(response);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      downloadBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}/blobs`;
    });

    afterAll(async () => {
      ecrMock.restore();
      await new Promise((resolve) => server?.close(resolve));
    });

    it('streams layers through download URLs', async () => {
      const manifest = await readFile(join(image.dir, 'blobs', 'sha256', image.manifestDigest.slice('sha256:'.length)), 'utf8');
      ecrMock.on(BatchGetImageCommand).resolves({
        images: [{ imageId: { imageDigest: image.manifestDigest }, imageManifest: manifest, imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json' }],
      });
      ecrMock.on(GetDownloadUrlForLayerCommand).callsFake((input: { layerDigest: string }) => ({ layerDigest: input.layerDigest, downloadUrl: `${downloadBase}/${input.layerDigest}` }));
      const registry = new EcrRegistry(new ECRClient({ region: 'us-east-1' }), '123456789012');

      const result = await read({ kind: 'registry', registry, repository: 'team/layered', reference: 'layered' });

      expect(result.manifestDigest).toBe(image.manifestDigest);
      expect(result.layers.map((layer) => layer.bytes)).toEqual(image.layers.map((layer) => layer.tarSize));
      expect((await result.fs.read('/var/lib/dpkg/status'))?.toString()).toBe(STATUS_V2);
      await result.dispose();
    });
  });

  describe('private temporary folder', () => {
    it('is mode 0700 and deleted by dispose', async () => {
      const root = await mkdtemp(join(workDir, 'temp-root-'));
      const image = await layout('temp-folder', layeredImage(['gzip', 'none', 'none']));
      const result = await read({ kind: 'oci-layout', path: image.dir }, { tempRoot: root });

      const folders = await readdir(root);
      expect(folders).toHaveLength(1);
      expect((await stat(join(root, folders[0]!))).mode & 0o777).toBe(0o700);
      // Kept content is appended to one file per layer, never written under its image path.
      expect((await readdir(join(root, folders[0]!))).sort()).toEqual(['layer-0', 'layer-1', 'layer-2']);

      await result.dispose();
      expect(await readdir(root)).toEqual([]);
      expect(await result.fs.read('/app/main.py')).toBeUndefined();
    });
  });

  describe('damaged layers', () => {
    it('rejects a diff_id mismatch naming both digests', async () => {
      const spec = layeredImage(['gzip', 'none', 'none']);
      spec.layers[2]!.diffIdOverride = `sha256:${'0'.repeat(64)}`;
      const image = await layout('wrong-diff-id', spec);

      await expect(read({ kind: 'oci-layout', path: image.dir })).rejects.toThrow(
        `Layer 2 (${image.layers[2]!.digest}): the uncompressed content has digest ${image.layers[2]!.diffId}, but the config's rootfs.diff_ids names sha256:${'0'.repeat(64)}`,
      );
    });

    it('rejects a blob that does not match its digest', async () => {
      const image = await layout('replaced-blob', layeredImage(['gzip', 'none', 'none']));
      const blob = join(image.dir, 'blobs', 'sha256', image.layers[0]!.digest.slice('sha256:'.length));
      await writeFile(blob, gzipSync(Buffer.alloc(1024)));

      await expect(read({ kind: 'oci-layout', path: image.dir })).rejects.toThrow(`but the manifest names ${image.layers[0]!.digest}; the blob is damaged or was replaced`);
    });

    it.each([
      ['gzip', /Layer 0 \(sha256:[0-9a-f]{64}\) cannot be read: its gzip stream ends early/],
      ['zstd', /Layer 0 \(sha256:[0-9a-f]{64}\) cannot be read: its zstd stream ends early/],
      ['none', /Layer 0 \(sha256:[0-9a-f]{64}\) cannot be read: its tar stream ends early/],
    ] as const)('rejects a truncated %s layer', async (compression, message) => {
      const whole = await layout(`whole-${compression}`, { layers: [{ compression, entries: [{ type: 'file', path: '/usr/lib/libssl.so.3', fromHost: HOST_LIBSSL }] }] });
      const image = await layout(`truncated-${compression}`, {
        layers: [{ compression, truncateTo: Math.floor(whole.layers[0]!.size / 2), entries: [{ type: 'file', path: '/usr/lib/libssl.so.3', fromHost: HOST_LIBSSL }] }],
      });

      await expect(read({ kind: 'oci-layout', path: image.dir })).rejects.toThrow(message);
    });
  });

  describe('hostile layers', () => {
    function single(entries: LayerSpec['entries'], compression: LayerSpec['compression'] = 'gzip'): ImageSpec {
      return { layers: [{ compression, entries }] };
    }

    it('rejects an entry that climbs out of the root', async () => {
      const image = await layout('traversal', single([{ type: 'raw', header: { name: 'usr/../../../tmp/evil', type: 'file' }, content: 'x' }]));

      await expect(read({ kind: 'oci-layout', path: image.dir })).rejects.toThrow(
        `Layer 0 (${image.layers[0]!.digest}) has an entry "usr/../../../tmp/evil" whose '..' components leave the image root; the layer was rejected`,
      );
    });

    it('rejects a relative symlink out of the root', async () => {
      const image = await layout('symlink-out', single([{ type: 'symlink', path: '/etc/passwd-link', target: '../../../../etc/passwd' }]));

      await expect(read({ kind: 'oci-layout', path: image.dir })).rejects.toThrow(
        `Layer 0 (${image.layers[0]!.digest}) has a symlink /etc/passwd-link -> ../../../../etc/passwd that points above the image root; the layer was rejected`,
      );
    });

    it('rejects an absolute symlink climbing above /', async () => {
      const image = await layout('symlink-absolute', single([{ type: 'symlink', path: '/etc/shadow-link', target: '/../../etc/shadow' }]));

      await expect(read({ kind: 'oci-layout', path: image.dir })).rejects.toThrow('has a symlink /etc/shadow-link -> /../../etc/shadow that points above the image root');
    });

    it('rejects a hardlink out of the root', async () => {
      const image = await layout('hardlink-out', single([{ type: 'raw', header: { name: 'etc/hosts', type: 'link', linkname: '../../etc/hosts' } }]));

      await expect(read({ kind: 'oci-layout', path: image.dir })).rejects.toThrow('has a hardlink /etc/hosts to "../../etc/hosts", which is outside the image root');
    });

    it('accepts an absolute symlink inside the root', async () => {
      const image = await layout('symlink-inside', single([{ type: 'symlink', path: '/etc/localtime', target: '/usr/share/zoneinfo/UTC' }]));
      const result = await read({ kind: 'oci-layout', path: image.dir });

      expect(result.fs.entry('/etc/localtime')?.linkTarget).toBe('/usr/share/zoneinfo/UTC');
      await result.dispose();
    });

    it('records devices and fifos without creating them', async () => {
      const image = await layout(
        'devices',
        single([
          { type: 'raw', header: { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 } },
          { type: 'raw', header: { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 } },
          { type: 'raw', header: { name: 'run/pipe', type: 'fifo', mode: 0o600 } },
        ]),
      );
      const root = await mkdtemp(join(workDir, 'devices-temp-'));
      const result = await read({ kind: 'oci-layout', path: image.dir }, { tempRoot: root });

      expect([...result.fs.entries()].map((node) => `${node.path} ${node.kind} ${node.mode.toString(8)}`)).toEqual(['/dev/null other 666', '/dev/sda other 660', '/run/pipe other 600']);
      const [folder] = await readdir(root);
      expect(await readdir(join(root, folder!))).toEqual([]);
      await result.dispose();
    });

    it('deletes the temporary folder after a rejection', async () => {
      const root = await mkdtemp(join(workDir, 'rejected-temp-'));
      const image = await layout('rejected', {
        layers: [
          { compression: 'none', entries: [{ type: 'file', path: '/app/main.py', content: 'print(1)\n' }] },
          { compression: 'none', entries: [{ type: 'symlink', path: '/app/escape', target: '../../..' }] },
        ],
      });

      await expect(read({ kind: 'oci-layout', path: image.dir }, { tempRoot: root })).rejects.toThrow('points above the image root');
      expect(await readdir(root)).toEqual([]);
    });
  });

  describe('limits', () => {
    // 300 MiB of zeros compress to about 300 KiB with gzip and to a few KiB with zstd.
    it.each(['gzip', 'zstd'] as const)('rejects a %s decompression bomb', async (compression) => {
      const image = await layout(`bomb-${compression}`, { layers: [{ compression, entries: [{ type: 'file', path: '/zeros', zeros: 300 * MIB }] }] });
      expect(image.layers[0]!.size).toBeLessThan(MIB);

      await expect(read({ kind: 'oci-layout', path: image.dir })).rejects.toThrow(
        new RegExp(`^Layer 0 \\(${image.layers[0]!.digest}\\) expanded \\d+ compressed bytes into \\d+ bytes, a ratio of \\d+ over the limit of 200 \\(limits.maxCompressionRatio\\), as a decompression bomb does; raise that limit if the layer is trusted$`),
      );
    }, 120_000);

    it('reads a highly compressed layer when the ratio limit is raised', async () => {
      const image = await layout('zeros-trusted', { layers: [{ compression: 'gzip', entries: [{ type: 'file', path: '/zeros', zeros: 32 * MIB }] }] });
      const result = await read({ kind: 'oci-layout', path: image.dir }, { limits: { maxCompressionRatio: 5000 } });

      expect(result.fs.entry('/zeros')?.size).toBe(32 * MIB);
      await result.dispose();
    });

    it('rejects too many entries', async () => {
      const entries = Array.from({ length: 10 }, (_, i) => ({ type: 'file' as const, path: `/data/file-${i}`, content: `${i}` }));
      const image = await layout('many-entries', { layers: [{ compression: 'gzip', entries: entries.slice(0, 4) }, { compression: 'gzip', entries: entries.slice(4) }] });

      await expect(read({ kind: 'oci-layout', path: image.dir }, { limits: { maxEntries: 6 } })).rejects.toThrow(
        `Layer 1 (${image.layers[1]!.digest}) brings the image to more than 6 tar entries (limits.maxEntries); raise that limit to read this image`,
      );
    });

    it('rejects an image over the total size', async () => {
      const image = await layout('total-size', { layers: [{ compression: 'none', entries: [{ type: 'file', path: '/big', zeros: 2 * MIB }] }] });

      await expect(read({ kind: 'oci-layout', path: image.dir }, { limits: { maxTotalBytes: MIB } })).rejects.toThrow(
        `Layer 0 (${image.layers[0]!.digest}) brings the image to more than ${MIB} uncompressed bytes (limits.maxTotalBytes); raise that limit to read this image`,
      );
    });

    it('rejects a file over the file size limit', async () => {
      const image = await layout('file-size', { layers: [{ compression: 'none', entries: [{ type: 'file', path: '/big', zeros: 2 * MIB }] }] });

      await expect(read({ kind: 'oci-layout', path: image.dir }, { limits: { maxFileBytes: MIB } })).rejects.toThrow(
        `Layer 0 (${image.layers[0]!.digest}) has a file /big of ${2 * MIB} bytes, over the limit of ${MIB} (limits.maxFileBytes); raise that limit to read it`,
      );
    });

    it('rejects a path deeper than the limit', async () => {
      const deep = `/${Array.from({ length: 12 }, (_, i) => `d${i}`).join('/')}`;
      const image = await layout('deep', { layers: [{ compression: 'none', entries: [{ type: 'file', path: deep, content: 'x' }] }] });

      await expect(read({ kind: 'oci-layout', path: image.dir }, { limits: { maxPathDepth: 10 } })).rejects.toThrow('has an entry 12 directories deep');
    });

    it('rejects an invalid limit', async () => {
      const image = await layout('invalid-limit', { layers: [{ compression: 'none', entries: [{ type: 'file', path: '/a', content: 'a' }] }] });

      await expect(read({ kind: 'oci-layout', path: image.dir }, { limits: { maxEntries: -1 } })).rejects.toThrow('Layer limit maxEntries must be a positive number, got -1');
    });

    it('warns about files over an inspector or selector limit', async () => {
      const image = await layout('oversized', {
        layers: [
          {
            compression: 'gzip',
            entries: [
              { type: 'file', path: '/usr/lib/libssl.so.3', fromHost: HOST_LIBSSL },
              { type: 'file', path: '/app/big.py', zeros: 2 * MIB },
            ],
          },
        ],
      });
      const smallElf = { ...elfInspector, maxBytes: 1024 };
      const result = await read({ kind: 'oci-layout', path: image.dir }, { inspectors: [smallElf] });
      const size = (await stat(HOST_LIBSSL)).size;

      expect(result.warnings).toEqual([
        `Layer 0 (${image.layers[0]!.digest}): skipped /usr/lib/libssl.so.3 (${size} bytes) for inspector elf, whose limit is 1024 bytes`,
        `Layer 0 (${image.layers[0]!.digest}): did not keep /app/big.py (${2 * MIB} bytes), over the selector's limit of ${MIB} bytes`,
      ]);
      expect(result.fs.entry('/usr/lib/libssl.so.3')?.facts).toBeUndefined();
      expect(await result.fs.read('/app/big.py')).toBeUndefined();
      await result.dispose();
    });
  });
});
