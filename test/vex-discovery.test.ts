import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ECRClient } from '@aws-sdk/client-ecr';
import {
  discoverAndImportVex,
  discoverVex,
  DistributionRegistry,
  fetchImage,
  fixedClock,
  ingestReport,
  MAX_VEX_BLOB_BYTES,
  recordImage,
  RegistryError,
  REGISTRY_VEX_ACTOR,
  sha256,
  silentLogger,
  type Finding,
  type Logger,
  type ParsedReport,
  type RegistryClient,
  type Store,
  type VexContext,
  type VexDiscoveryResult,
  type VexDocumentRecord,
} from '@stratum/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { handleImagePushed } from '../packages/functions/src/image-pushed.ts';
import { LOCAL_TENANT, startLocalServer, type LocalServer } from '../packages/functions/src/local/server.ts';
import type { HandlerDependencies } from '../packages/functions/src/runtime.ts';
import { readFixture } from './support/fixtures.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';
import { buildImages, freePort, REGISTRY_BINARY, startRegistry, waitFor, type TestRegistry } from './support/registry.ts';

const NOTIFICATION_TIMEOUT_MS = 15_000;
const TAG = '1.0';
const CVE = 'CVE-2024-3094';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OPENVEX_TYPE = 'application/vnd.openvex+json';
const DSSE_TYPE = 'application/vnd.dsse.envelope.v1+json';
const IN_TOTO_TYPE = 'application/vnd.in-toto+json';

type LogMethod = Logger['warn'];

function spyLogger() {
  return { debug: vi.fn<LogMethod>(), info: vi.fn<LogMethod>(), warn: vi.fn<LogMethod>(), error: vi.fn<LogMethod>() };
}

/** Builds an OpenVEX 0.2.0 document stating that the image with `digest` is not affected by CVE-2024-3094. */
function openVex(id: string, digest: string): Record<string, unknown> {
  return {
    '@context': 'https://openvex.dev/ns/v0.2.0',
    '@id': id,
    author: 'Platform Team <platform@example.com>',
    timestamp: '2026-11-30T10:00:00Z',
    version: 1,
    statements: [
      {
        vulnerability: { name: CVE },
        products: [{ '@id': `pkg:oci/app@${encodeURIComponent(digest)}` }],
        status: 'not_affected',
        justification: 'vulnerable_code_not_present',
      },
    ],
  };
}

/** Builds a DSSE envelope around an in-toto statement whose subject is `subjectDigest` and whose predicate is `vex`. */
function vexAttestation(subjectDigest: string, vex: Record<string, unknown>): Buffer {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'team/app', digest: { sha256: subjectDigest.slice('sha256:'.length) } }],
    predicateType: 'https://openvex.dev/ns/v0.2.0',
    predicate: vex,
  };
  const envelope = { payloadType: IN_TOTO_TYPE, payload: Buffer.from(JSON.stringify(statement)).toString('base64'), signatures: [] };
  return Buffer.from(JSON.stringify(envelope));
}

function descriptor(mediaType: string, content: Buffer): { mediaType: string; digest: string; size: number } {
  return { mediaType, digest: sha256(content), size: content.length };
}

/**
 * Writes an OCI image layout by hand with one manifest tagged `att`, shaped like cosign's
 * `.att` manifests: a small JSON config and one DSSE envelope layer.
 */
async function writeAttestationLayout(dir: string, envelope: Buffer): Promise<void> {
  const config = Buffer.from('{}');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor('application/vnd.oci.image.config.v1+json', config),
      layers: [{ ...descriptor(DSSE_TYPE, envelope), annotations: { predicateType: 'https://openvex.dev/ns/v0.2.0' } }],
    }),
  );
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...descriptor(OCI_MANIFEST, manifest), annotations: { 'org.opencontainers.image.ref.name': 'att' } }] };

  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const blob of [config, envelope, manifest]) await writeFile(join(dir, 'blobs', 'sha256', sha256(blob).slice('sha256:'.length)), blob);
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

/** Returns the cosign tag for the attestations of `digest`. */
function attestationTag(digest: string): string {
  return `${digest.replace(':', '-')}.att`;
}

function report(repository: string): ParsedReport {
  return {
    format: 'TRIVY',
    scanner: { name: 'trivy' },
    image: { repository, tags: [TAG] },
    findings: [
      {
        vulnerabilityId: CVE,
        aliases: [],
        severity: 'CRITICAL',
        package: { name: 'liblzma5', version: '5.6.0-0.2', type: 'deb', purl: 'pkg:deb/debian/liblzma5@5.6.0-0.2?arch=amd64' },
      },
    ],
  };
}

async function documentsOf(store: Store, tenant: string): Promise<VexDocumentRecord[]> {
  const page = await store.forTenant(tenant).vex.listDocuments({ first: 100 });
  return page.items.map((edge) => edge.node);
}

describe.skipIf(!existsSync(REGISTRY_BINARY))('VEX discovery with a registry', () => {
  let workDir: string;
  let registryServer: TestRegistry;
  let server: LocalServer;
  let local: TestStore;
  let registry: DistributionRegistry;
  let layout: string;
  let baseDigest: string;
  let appDigest: string;
  let webDigest: string;
  let tenantNumber = 0;

  /** Pushes a cosign-style attestation to `repository:sha256-<hex>.att`, the tag for the image `tagDigest`. */
  async function pushAttestation(repository: string, tagDigest: string, envelope: Buffer): Promise<string> {
    const dir = join(workDir, `attestation-${randomUUID()}`);
    await writeAttestationLayout(dir, envelope);
    return registryServer.push(`oci:${dir}:att`, repository, attestationTag(tagDigest));
  }

  function nextTenant(): string {
    return `discovery${++tenantNumber}`;
  }

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'stratum-vex-discovery-'));
    const port = await freePort();
    const registryUrl = `http://127.0.0.1:${port}`;
    registry = new DistributionRegistry({ url: registryUrl });
    layout = join(workDir, 'layout');

    local = await startTestStore();
    server = await startLocalServer({ dataDir: join(workDir, 'stratum'), port: 0, registryUrl, seedSamples: false, logger: silentLogger });
    registryServer = await startRegistry({ workDir, port, notificationUrl: `${server.url}/registry-events` });

    await buildImages(workDir, layout, ['app', 'web']);
    baseDigest = await registryServer.push(`oci:${layout}:base`, 'library/base', TAG);
    appDigest = await registryServer.push(`oci:${layout}:app`, 'team/app', TAG);
    await pushAttestation('team/app', appDigest, vexAttestation(appDigest, openVex('https://example.com/vex/app', appDigest)));
  }, 120_000);

  afterAll(async () => {
    await registryServer?.stop();
    await server?.close();
    await local?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  describe('cosign attestation tag', () => {
    it('finds the attached VEX', async () => {
      const documents = await discoverVex(registry, 'team/app', appDigest, silentLogger);

      expect(documents).toHaveLength(1);
      expect(documents[0]?.documentId).toBe('https://example.com/vex/app');
      expect(documents[0]?.statements[0]?.vulnerabilityId).toBe(CVE);
      expect(documents[0]?.statements[0]?.status).toBe('NOT_AFFECTED');
    });

    it('Distribution 2.8 lacks referrers API', async () => {
      expect(await registry.listReferrers('team/app', appDigest)).toBeUndefined();
    });

    it('works without referrers support', async () => {
      // ECR's client has only these two methods, so this is the path ECR pushes take.
      const tagOnly: RegistryClient = { getManifest: (repository, reference) => registry.getManifest(repository, reference), getBlob: (repository, digest) => registry.getBlob(repository, digest) };

      const documents = await discoverVex(tagOnly, 'team/app', appDigest, silentLogger);

      expect(documents.map((document) => document.documentId)).toEqual(['https://example.com/vex/app']);
    });

    it('missing tag gives no documents', async () => {
      const logger = spyLogger();

      const documents = await discoverVex(registry, 'library/base', baseDigest, logger);

      expect(documents).toEqual([]);
      expect(logger.warn).not.toHaveBeenCalled();
      expect(logger.error).not.toHaveBeenCalled();
    });

    it('skips attestation for another image', async () => {
      // The tag names one image and the statement's subject another, so the attestation is not about the tagged image.
      const tagged = sha256('an image that is not team/app');
      await pushAttestation('team/app', tagged, vexAttestation(appDigest, openVex('https://example.com/vex/misplaced', appDigest)));
      const logger = spyLogger();

      const documents = await discoverVex(registry, 'team/app', tagged, logger);

      expect(documents).toEqual([]);
      expect(logger.warn).toHaveBeenCalledWith('skipped malformed VEX document', expect.objectContaining({ error: expect.stringContaining('another image') }));
    });
  });

  describe('import into the store', () => {
    let tenant: string;
    let first: VexDiscoveryResult;
    let second: VexDiscoveryResult;
    let findings: Finding[];
    let documents: VexDocumentRecord[];

    beforeAll(async () => {
      tenant = nextTenant();
      const context: VexContext = { ...local.context(tenant), actor: REGISTRY_VEX_ACTOR };
      await ingestReport(context, { report: report('team/app'), digest: appDigest });

      first = await discoverAndImportVex(context, registry, 'team/app', appDigest);
      second = await discoverAndImportVex(context, registry, 'team/app', appDigest);

      const image = await context.store.getImage(appDigest);
      findings = image ? (await context.store.listFindings(image, {}, { first: 10 })).items.map((edge) => edge.node) : [];
      documents = await documentsOf(local.store, tenant);
    });

    it('counts the imported document', () => {
      expect(first).toEqual({ found: 1, imported: 1, findingsUpdated: 1 });
    });

    it('stores it with source REGISTRY', () => {
      expect(documents).toHaveLength(1);
      expect(documents[0]?.source).toBe('REGISTRY');
      expect(documents[0]?.importedBy).toBe(REGISTRY_VEX_ACTOR);
      expect(documents[0]?.state).toBe('ACTIVE');
    });

    it('marks the finding not affected', () => {
      expect(findings).toHaveLength(1);
      expect(findings[0]?.vex?.status).toBe('NOT_AFFECTED');
      expect(findings[0]?.vex?.matchedBy).toBe('IMAGE');
    });

    it('second discovery imports nothing', () => {
      expect(second).toEqual({ found: 1, imported: 0, findingsUpdated: 0 });
    });
  });

  describe('image pushed handler', () => {
    let tenant: string;

    function dependencies(forTenant: string, logger: Logger = silentLogger): HandlerDependencies {
      return {
        store: local.store,
        clock: fixedClock('2026-12-01T12:00:00Z'),
        logger,
        ecr: () => new ECRClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
        tenantForAccount: () => forTenant,
      };
    }

    function pushEvent(repository: string, digest: string, tag: string): { id: string; detail: Record<string, unknown> } {
      const event = readFixture<{ id: string; detail: Record<string, unknown> }>('events/eventbridge-ecr-image-action-push.json');
      Object.assign(event.detail, { 'repository-name': repository, 'image-digest': digest, 'image-tag': tag });
      return event;
    }

    beforeAll(async () => {
      tenant = nextTenant();

      // The base is stored without discovery, so its VEX can only arrive through the app's push.
      const base = await fetchImage(registry, 'library/base', baseDigest);
      await recordImage(local.context(tenant), { manifestDigest: base.manifestDigest, repository: 'library/base', tags: [TAG], manifest: base.manifest, config: base.config });
      await pushAttestation('library/base', baseDigest, vexAttestation(baseDigest, openVex('https://example.com/vex/base', baseDigest)));
    });

    it('imports app and base VEX', async () => {
      const outcome = await handleImagePushed(dependencies(tenant), pushEvent('team/app', appDigest, TAG), () => registry);
      const ids = (await documentsOf(local.store, tenant)).map((document) => document.documentId).sort();

      expect(outcome.status).toBe('stored');
      expect(ids).toEqual(['https://example.com/vex/app', 'https://example.com/vex/base']);
    });

    it('registry failure keeps the push', async () => {
      const logger = spyLogger();
      const failing: RegistryClient = {
        getManifest: async (repository, reference) => {
          if (reference.endsWith('.att')) throw new RegistryError(`Registry request for ${reference} failed with HTTP 503`, 503);
          return registry.getManifest(repository, reference);
        },
        getBlob: (repository, digest) => registry.getBlob(repository, digest),
      };
      const event = pushEvent('team/app', appDigest, TAG);

      const outcome = await handleImagePushed(dependencies(nextTenant(), logger), event, () => failing);

      expect(outcome.status).toBe('stored');
      expect(logger.error).toHaveBeenCalledWith('VEX discovery failed; the push is stored without it', expect.objectContaining({ eventId: event.id, digest: appDigest }));
    });

    it('attestation push stores no image', async () => {
      const attestationTenant = nextTenant();
      const attestationDigest = (await registry.getManifest('team/app', attestationTag(appDigest))).digest;

      const outcome = await handleImagePushed(dependencies(attestationTenant), pushEvent('team/app', attestationDigest, attestationTag(appDigest)), () => registry);
      const ids = (await documentsOf(local.store, attestationTenant)).map((document) => document.documentId);

      expect(outcome.status).toBe('ignored');
      expect(await local.store.forTenant(attestationTenant).getImage(attestationDigest)).toBeUndefined();
      expect(ids).toEqual(['https://example.com/vex/app']);
    });
  });

  describe('local server notifications', () => {
    beforeAll(async () => {
      // The image first and its attestation later, the order `cosign attest` runs in after a push.
      webDigest = await registryServer.push(`oci:${layout}:web`, 'team/web', TAG);
      await pushAttestation('team/web', webDigest, vexAttestation(webDigest, openVex('https://example.com/vex/web', webDigest)));
    }, 60_000);

    it('imports attestation pushed after image', async () => {
      // An import writes the document as IMPORTING first, so the wait is for the finished import.
      const document = await waitFor('the web VEX document to become active in the local store', NOTIFICATION_TIMEOUT_MS, async () =>
        (await documentsOf(server.store, LOCAL_TENANT)).find((candidate) => candidate.documentId === 'https://example.com/vex/web' && candidate.state === 'ACTIVE'),
      );

      expect(document.source).toBe('REGISTRY');
      expect(document.importedBy).toBe(REGISTRY_VEX_ACTOR);
    });

    it('stores no image for the attestation', async () => {
      const attestationDigest = (await registry.getManifest('team/web', attestationTag(webDigest))).digest;

      expect(await server.store.forTenant(LOCAL_TENANT).getImage(attestationDigest)).toBeUndefined();
    });
  });
});

describe('VEX discovery with referrers API', () => {
  // CNCF Distribution 2.8 (Debian's docker-registry) has no referrers API, so a small stand-in server plays an OCI 1.1 registry.
  const imageDigest = sha256('image served by the stand-in registry');
  const vexBlob = Buffer.from(JSON.stringify(openVex('https://example.com/vex/referrer', imageDigest)));
  const emptyConfig = Buffer.from('{}');
  const artifactManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: OPENVEX_TYPE,
      config: descriptor('application/vnd.oci.empty.v1+json', emptyConfig),
      layers: [descriptor(OPENVEX_TYPE, vexBlob)],
      subject: { mediaType: OCI_MANIFEST, digest: imageDigest, size: 1234 },
    }),
  );
  const largeManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: OPENVEX_TYPE,
      config: descriptor('application/vnd.oci.empty.v1+json', emptyConfig),
      layers: [{ mediaType: OPENVEX_TYPE, digest: sha256('a VEX document over the size limit'), size: MAX_VEX_BLOB_BYTES + 1 }],
      subject: { mediaType: OCI_MANIFEST, digest: imageDigest, size: 1234 },
    }),
  );
  const largeIndex = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...descriptor(OCI_MANIFEST, largeManifest), artifactType: OPENVEX_TYPE }] }));
  const sbomReferrer = { mediaType: OCI_MANIFEST, digest: sha256('an SBOM manifest'), size: 500, artifactType: 'application/spdx+json' };
  const referrersIndex = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...descriptor(OCI_MANIFEST, artifactManifest), artifactType: OPENVEX_TYPE }, sbomReferrer] }),
  );

  let standIn: Server;
  let url: string;
  const requests: string[] = [];

  /**
   * Serves the artifact in `team/app`, the same artifact with a VEX blob that does not match
   * its digest in `team/tampered`, and an artifact whose layer is over the size limit in `team/large`.
   */
  function route(path: string): { body: Buffer; type: string } | undefined {
    const match = /^\/v2\/(team\/app|team\/tampered|team\/large)\/(referrers|manifests|blobs)\/(.+)$/.exec(path);
    if (!match) return undefined;
    const [, repository, kind, reference] = match;

    if (repository === 'team/large') {
      if (kind === 'referrers' && reference === imageDigest) return { body: largeIndex, type: OCI_INDEX };
      if (kind === 'manifests' && reference === sha256(largeManifest)) return { body: largeManifest, type: OCI_MANIFEST };
      return undefined;
    }

    if (kind === 'referrers' && reference === imageDigest) return { body: referrersIndex, type: OCI_INDEX };
    if (kind === 'manifests' && reference === sha256(artifactManifest)) return { body: artifactManifest, type: OCI_MANIFEST };
    if (kind === 'blobs' && reference === sha256(vexBlob)) {
      const body = repository === 'team/tampered' ? Buffer.from(vexBlob.toString().replace('not_affected', 'affected____')) : vexBlob;
      return { body, type: OPENVEX_TYPE };
    }
    return undefined;
  }

  beforeAll(async () => {
    standIn = createHttpServer((request, response) => {
      const path = request.url ?? '/';
      requests.push(path);
      const found = route(path);
      if (!found) {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ errors: [{ code: 'NOT_FOUND' }] }));
        return;
      }
      response.writeHead(200, { 'content-type': found.type, 'docker-content-digest': sha256(found.body) });
      response.end(found.body);
    });
    await new Promise<void>((resolve) => standIn.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => standIn.close(() => resolve()));
  });

  it('reads the OpenVEX referrer', async () => {
    requests.length = 0;

    const documents = await discoverVex(new DistributionRegistry({ url }), 'team/app', imageDigest, silentLogger);

    expect(documents.map((document) => document.documentId)).toEqual(['https://example.com/vex/referrer']);
    expect(documents[0]?.statements[0]?.status).toBe('NOT_AFFECTED');
  });

  it('skips the SBOM and the tag', async () => {
    requests.length = 0;

    await discoverVex(new DistributionRegistry({ url }), 'team/app', imageDigest, silentLogger);

    expect(requests).toEqual([`/v2/team/app/referrers/${imageDigest}`, `/v2/team/app/manifests/${sha256(artifactManifest)}`, `/v2/team/app/blobs/${sha256(vexBlob)}`]);
  });

  it('rejects blob with wrong digest', async () => {
    const logger = spyLogger();

    const documents = await discoverVex(new DistributionRegistry({ url }), 'team/tampered', imageDigest, logger);

    expect(documents).toEqual([]);
    expect(logger.warn).toHaveBeenCalledWith('skipped malformed VEX document', expect.objectContaining({ error: expect.stringContaining('not the expected') }));
  });

  it('falls back to the tag', async () => {
    requests.length = 0;

    await discoverVex(new DistributionRegistry({ url }), 'team/tampered', imageDigest, silentLogger);

    expect(requests.at(-1)).toBe(`/v2/team/tampered/manifests/${attestationTag(imageDigest)}`);
  });

  it('skips layer over 4 MiB', async () => {
    requests.length = 0;
    const logger = spyLogger();

    const documents = await discoverVex(new DistributionRegistry({ url }), 'team/large', imageDigest, logger);

    expect(documents).toEqual([]);
    expect(requests.filter((path) => path.includes('/blobs/'))).toEqual([]);
    expect(logger.warn).toHaveBeenCalledWith('skipped malformed VEX document', expect.objectContaining({ error: expect.stringContaining('over the limit') }));
  });
});
