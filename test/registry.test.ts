import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DistributionRegistry, fetchImage, RegistryError, silentLogger, type Image } from '@stratum/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LOCAL_TENANT, startLocalServer, type LocalServer } from '../packages/functions/src/local/server.ts';
import { readFixture } from './support/fixtures.ts';
import { buildImages, freePort, REGISTRY_BINARY, startRegistry, waitFor, type TestRegistry } from './support/registry.ts';

const TAG = '1.0';
const NOTIFICATION_TIMEOUT_MS = 15_000;

describe.skipIf(!existsSync(REGISTRY_BINARY))('CNCF Distribution registry', () => {
  let workDir: string;
  let registryUrl: string;
  let registry: TestRegistry;
  let server: LocalServer;
  let baseDigest: string;
  let appDigest: string;
  let base: Image;
  let app: Image;

  function storedImage(digest: string, ready: (image: Image) => boolean = () => true): Promise<Image> {
    return waitFor(`image ${digest} in the store`, NOTIFICATION_TIMEOUT_MS, async () => {
      const image = await server.store.forTenant(LOCAL_TENANT).getImage(digest);
      return image && ready(image) ? image : undefined;
    });
  }

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'stratum-registry-'));
    const port = await freePort();
    registryUrl = `http://127.0.0.1:${port}`;

    server = await startLocalServer({ dataDir: join(workDir, 'stratum'), port: 0, registryUrl, seedSamples: false, logger: silentLogger });
    registry = await startRegistry({ workDir, port, notificationUrl: `${server.url}/registry-events` });

    const layout = join(workDir, 'layout');
    await buildImages(workDir, layout, ['app']);
    baseDigest = await registry.push(`oci:${layout}:base`, 'library/base', TAG);
    appDigest = await registry.push(`oci:${layout}:app`, 'team/app', TAG);

    base = await storedImage(baseDigest);
    // The app's base is decided when the app is stored, or again when the base arrives later.
    app = await storedImage(appDigest, (image) => image.baseImage !== undefined);
  }, 90_000);

  afterAll(async () => {
    await registry?.stop();
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
