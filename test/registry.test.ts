import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { DistributionRegistry, fetchImage, RegistryError, silentLogger, type Image } from '@stratum/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LOCAL_TENANT, startLocalServer, type LocalServer } from '../packages/functions/src/local/server.ts';
import { readFixture } from './support/fixtures.ts';

// The Debian packages docker-registry (CNCF Distribution 2.8), skopeo and umoci provide the binaries these tests run.
const REGISTRY_BINARY = '/usr/bin/docker-registry';
const TAG = '1.0';
const COMMAND_TIMEOUT_MS = 60_000;
const REGISTRY_START_TIMEOUT_MS = 15_000;
const NOTIFICATION_TIMEOUT_MS = 15_000;

const run = promisify(execFile);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` returns a value, or throws after `timeoutMs` with `what` in the message. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;

  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await sleep(200);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe.skipIf(!existsSync(REGISTRY_BINARY))('CNCF Distribution registry', () => {
  let workDir: string;
  let registryUrl: string;
  let registryHost: string;
  let registry: ChildProcess | undefined;
  let registryLog = '';
  let server: LocalServer;
  let baseDigest: string;
  let appDigest: string;
  let base: Image;
  let app: Image;

  async function startRegistry(notificationUrl: string, port: number): Promise<void> {
    // Retries are short so that a notification that failed once is sent again well within the test's wait.
    const config = [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(workDir, 'registry')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      'notifications:',
      '  endpoints:',
      '    - name: stratum',
      `      url: ${notificationUrl}`,
      '      timeout: 5s',
      '      threshold: 3',
      '      backoff: 1s',
      '',
    ].join('\n');
    const configPath = join(workDir, 'config.yml');
    await writeFile(configPath, config);

    registry = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    registry.stdout?.on('data', (chunk: Buffer) => (registryLog += chunk.toString()));
    registry.stderr?.on('data', (chunk: Buffer) => (registryLog += chunk.toString()));

    await waitFor(`GET ${registryUrl}/v2/ to answer`, REGISTRY_START_TIMEOUT_MS, async () => {
      if (registry?.exitCode !== null) throw new Error(`docker-registry exited with code ${registry?.exitCode}: ${registryLog}`);
      try {
        const response = await fetch(`${registryUrl}/v2/`, { signal: AbortSignal.timeout(1_000) });
        return response.ok ? true : undefined;
      } catch {
        return undefined;
      }
    });
  }

  /** Builds `base` with two layers and `app` as `base` plus one layer, in one OCI layout. */
  async function buildImages(layout: string): Promise<void> {
    const files = join(workDir, 'files');
    await mkdir(files);
    for (const name of ['os-release', 'libexample.so', 'app.py']) await writeFile(join(files, name), `${name} for the registry test\n`);

    await run('umoci', ['init', '--layout', layout], { timeout: COMMAND_TIMEOUT_MS });
    await run('umoci', ['new', '--image', `${layout}:base`], { timeout: COMMAND_TIMEOUT_MS });
    await run('umoci', ['insert', '--image', `${layout}:base`, join(files, 'os-release'), '/etc/os-release'], { timeout: COMMAND_TIMEOUT_MS });
    await run('umoci', ['insert', '--image', `${layout}:base`, join(files, 'libexample.so'), '/usr/lib/libexample.so'], { timeout: COMMAND_TIMEOUT_MS });
    await run('umoci', ['insert', '--image', `${layout}:base`, '--tag', 'app', join(files, 'app.py'), '/app/app.py'], { timeout: COMMAND_TIMEOUT_MS });
  }

  /** Pushes one tag of the layout with skopeo and returns the manifest digest the registry stored. */
  async function push(layout: string, source: string, repository: string): Promise<string> {
    const digestFile = join(workDir, `${source}.digest`);
    await run('skopeo', ['copy', '--dest-tls-verify=false', '--digestfile', digestFile, `oci:${layout}:${source}`, `docker://${registryHost}/${repository}:${TAG}`], {
      timeout: COMMAND_TIMEOUT_MS,
    });
    return (await readFile(digestFile, 'utf8')).trim();
  }

  function storedImage(digest: string, ready: (image: Image) => boolean = () => true): Promise<Image> {
    return waitFor(`image ${digest} in the store`, NOTIFICATION_TIMEOUT_MS, async () => {
      const image = await server.store.forTenant(LOCAL_TENANT).getImage(digest);
      return image && ready(image) ? image : undefined;
    });
  }

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'stratum-registry-'));
    const port = await freePort();
    registryHost = `127.0.0.1:${port}`;
    registryUrl = `http://${registryHost}`;

    server = await startLocalServer({ dataDir: join(workDir, 'stratum'), port: 0, registryUrl, seedSamples: false, logger: silentLogger });
    await startRegistry(`${server.url}/registry-events`, port);

    const layout = join(workDir, 'layout');
    await buildImages(layout);
    baseDigest = await push(layout, 'base', 'library/base');
    appDigest = await push(layout, 'app', 'team/app');

    base = await storedImage(baseDigest);
    // The app's base is decided when the app is stored, or again when the base arrives later.
    app = await storedImage(appDigest, (image) => image.baseImage !== undefined);
  }, 90_000);

  afterAll(async () => {
    if (registry && registry.exitCode === null) {
      const exited = new Promise((resolve) => registry!.once('exit', resolve));
      registry.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (registry.exitCode === null) registry.kill('SIGKILL');
    }
    await server?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  describe('push notifications', () => {
    it('store the base image', () => {
      expect(base.repository).toBe('library/base');
      expect(base.tags).toEqual([TAG]);
      expect(base.layers).toHaveLength(2);
    });

    it('store the app image', () => {
      expect(app.repository).toBe('team/app');
      expect(app.tags).toEqual([TAG]);
      expect(app.layers).toHaveLength(3);
    });

    it('detect base by layer prefix', () => {
      expect(app.baseImage?.method).toBe('LAYER_PREFIX');
      expect(app.baseImage?.layerCount).toBe(base.layers.length);
      expect(app.baseImage?.name).toBe(`library/base:${TAG}`);
      expect(app.baseImage?.confidence).toBe('HIGH');
      expect(app.baseImage?.digest).toBe(baseDigest);
    });

    it('mark base and app layers', () => {
      expect(app.layers.map((layer) => layer.origin)).toEqual(['BASE', 'BASE', 'APPLICATION']);
    });

    it('share the base diff_ids', () => {
      expect(app.layers.slice(0, 2).map((layer) => layer.diffId)).toEqual(base.layers.map((layer) => layer.diffId));
    });
  });

  describe('fetchImage from registry', () => {
    it('returns config matching the manifest', async () => {
      const fetched = await fetchImage(new DistributionRegistry({ url: registryUrl }), 'team/app', TAG);

      expect(fetched.manifestDigest).toBe(appDigest);
      expect(fetched.manifest.layers).toHaveLength(3);
      expect(fetched.config.rootfs.diff_ids).toHaveLength(fetched.manifest.layers.length);
    });

    it('missing tag gives HTTP 404', async () => {
      const fetching = fetchImage(new DistributionRegistry({ url: registryUrl }), 'team/app', 'no-such-tag');

      await expect(fetching).rejects.toBeInstanceOf(RegistryError);
      await expect(fetching).rejects.toMatchObject({ status: 404 });
    });
  });

  it('rejects documentation envelope digest', async () => {
    // The CNCF Distribution documentation's example names blobs with 65 hex characters.
    const envelope = readFixture('events/distribution-docs-envelope-push-manifest-and-blobs.json');

    const response = await fetch(`${server.url}/registry-events`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
      body: JSON.stringify(envelope),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as { error?: string };

    expect(response.status).toBe(400);
    expect(body.error).toContain('events[1].target.digest');
  });
});
