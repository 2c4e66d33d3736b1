import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { recordImage, storeImageAnalysis, type AnalysisRequest, type ImageAnalysis, type ImageUpdate } from '@stratum/core';
import { createGraphQLServer, localAuthenticator } from '@stratum/graphql';

import { analyzeImageWithFacts } from '../packages/core/src/analysis/analyze-image.ts';
import { readFixture } from './support/fixtures.ts';
import { graphqlClient, type GraphQLClient } from './support/graphql-client.ts';
import { hasHostDebianPackages, hostDebianImageSpec, statusField } from './support/host-debian-image.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';
import { buildOciLayout, type BuiltImage } from './support/oci-image.ts';

const REPOSITORY = 'team/openssl-app';

let local: TestStore;
let workDir: string;
let built: BuiltImage;
let analysis: ImageAnalysis;
let facts: ImageUpdate;

/** Builds a Trivy report of the built image with one finding in each of libssl3, libxml2 and openssl. */
function trivyReport(options: { withLayers: boolean }) {
  const finding = (id: string, name: string, layer: number) => ({
    VulnerabilityID: id,
    PkgName: name,
    InstalledVersion: statusField(name, 'Version'),
    PkgIdentifier: { PURL: `pkg:deb/debian/${name}@${encodeURIComponent(statusField(name, 'Version'))}?arch=amd64&distro=debian-12` },
    Severity: 'HIGH',
    ...(options.withLayers ? { Layer: { DiffID: built.layers[layer]!.diffId } } : {}),
  });

  return {
    SchemaVersion: 2,
    ArtifactName: `${REPOSITORY}:1.0`,
    ArtifactType: 'container_image',
    Metadata: {
      ImageID: built.imageId,
      DiffIDs: built.layers.map((layer) => layer.diffId),
      RepoDigests: [`${REPOSITORY}@${built.manifestDigest}`],
    },
    Results: [
      {
        Target: `${REPOSITORY}:1.0 (debian 12)`,
        Class: 'os-pkgs',
        Type: 'debian',
        Vulnerabilities: [finding('CVE-2024-0001', 'libssl3', 0), finding('CVE-2024-0002', 'libxml2', 0), finding('CVE-2024-0003', 'openssl', 1)],
      },
    ],
  };
}

const INGEST = `mutation Ingest($input: IngestScanReportInput!) { ingestScanReport(input: $input) { findingCount image { digest } } }`;

const FINDINGS = `query Findings($digest: String!, $filter: FindingFilter) {
  image(digest: $digest) {
    findings(first: 50, filter: $filter) { edges { node {
      vulnerabilityId package { name } origin layer { index }
      reachability { status method evidence analyzedAt }
      risk { actionable score }
    } } }
  }
}`;

interface FindingNode {
  vulnerabilityId: string;
  package: { name: string };
  layer: { index: number } | null;
  reachability: { status: string; method: string; evidence: string[]; analyzedAt: string | null };
  risk: { actionable: boolean; score: number };
}

async function findingsOf(client: GraphQLClient, filter?: Record<string, unknown>): Promise<Map<string, FindingNode>> {
  const result = await client.query(FINDINGS, { digest: built.manifestDigest, filter });
  expect(result.errors).toBeUndefined();
  const nodes = result.data.image.findings.edges.map((edge: { node: FindingNode }) => edge.node) as FindingNode[];
  return new Map(nodes.map((node) => [node.package.name, node]));
}

async function storeAnalysisFor(client: GraphQLClient) {
  const context = { ...local.context(client.tenant), actor: 'test' };
  if (!(await context.store.getImage(analysis.imageDigest))) await recordImage(context, { ...facts, repository: REPOSITORY });
  return storeImageAnalysis(context, analysis);
}

beforeAll(async () => {
  if (!hasHostDebianPackages) return;
  local = await startTestStore();
  workDir = await mkdtemp(join(tmpdir(), 'stratum-analysis-graphql-'));
  built = await buildOciLayout(join(workDir, 'layout'), hostDebianImageSpec({ tag: '1.0' }));
  ({ analysis, image: facts } = await analyzeImageWithFacts({ kind: 'oci-layout', path: join(workDir, 'layout') }, local.context()));
}, 120_000);

afterAll(async () => {
  await local?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe.skipIf(!hasHostDebianPackages)('content analysis through GraphQL', () => {
  it('gives reports before and after the analysis the same reachability', async () => {
    const before = graphqlClient(local, 'before');
    const after = graphqlClient(local, 'after');

    expect((await before.query(INGEST, { input: { report: trivyReport({ withLayers: true }) } })).errors).toBeUndefined();
    await storeAnalysisFor(before);
    await storeAnalysisFor(after);
    expect((await after.query(INGEST, { input: { report: trivyReport({ withLayers: true }) } })).errors).toBeUndefined();

    const early = await findingsOf(before);
    const late = await findingsOf(after);

    expect(early.get('libssl3')?.reachability.status).toBe('REACHABLE');
    expect(early.get('libssl3')?.reachability.evidence.join('\n')).toContain('libssl.so.3');
    expect(early.get('libxml2')?.reachability.status).toBe('UNREACHABLE');
    expect(early.get('libxml2')?.reachability.evidence.length).toBeGreaterThan(0);
    expect(early.get('openssl')?.reachability.status).toBe('REACHABLE');
    expect(early.get('libssl3')?.reachability.analyzedAt).toBe(analysis.analyzedAt);
    for (const name of ['libssl3', 'libxml2', 'openssl']) expect(late.get(name)?.reachability).toEqual(early.get(name)?.reachability);
  });

  it('shows UNKNOWN with method none before any analysis', async () => {
    const client = graphqlClient(local, 'unanalysed');
    await client.query(INGEST, { input: { report: trivyReport({ withLayers: true }) } });

    const findings = await findingsOf(client);

    expect(findings.get('libxml2')?.reachability).toEqual({ status: 'UNKNOWN', method: 'none', evidence: [], analyzedAt: null });
  });

  it('filters findings by reachability', async () => {
    const client = graphqlClient(local, 'filter');
    await client.query(INGEST, { input: { report: trivyReport({ withLayers: true }) } });
    await storeAnalysisFor(client);

    const unreachable = await findingsOf(client, { reachability: ['UNREACHABLE'] });
    const reachable = await findingsOf(client, { reachability: ['REACHABLE'] });

    expect([...unreachable.keys()]).toEqual(['libxml2']);
    expect([...reachable.keys()].sort()).toEqual(['libssl3', 'openssl']);
  });

  it('places findings of a report without layers by content', async () => {
    const client = graphqlClient(local, 'nolayers');
    await storeAnalysisFor(client);
    await client.query(INGEST, { input: { report: trivyReport({ withLayers: false }) } });

    const findings = await findingsOf(client);

    expect(findings.get('libxml2')?.layer?.index).toBe(analysis.packages.find((pkg) => pkg.name === 'libxml2')?.layerIndex);
    expect(findings.get('libxml2')?.layer?.index).toBe(0);
    expect(findings.get('openssl')?.layer?.index).toBe(1);
  });

  it('places ECR basic findings by content and leaves unmatched ones UNKNOWN', async () => {
    const client = graphqlClient(local, 'ecrbasic');
    await storeAnalysisFor(client);

    // The real ECR basic sample response, pointed at the built image, plus the same finding shape for libxml2 and openssl.
    const report = readFixture('reports/ecr/ecr-basic-describe-image-scan-findings-apiref.json') as any;
    report.imageId.imageDigest = built.manifestDigest;
    report.repositoryName = REPOSITORY;
    const sample = report.imageScanFindings.findings[0];
    const like = (id: string, name: string) => ({
      ...sample,
      name: id,
      attributes: sample.attributes.map((attribute: { key: string; value: string }) =>
        attribute.key === 'package_name' ? { key: 'package_name', value: name } : attribute.key === 'package_version' ? { key: 'package_version', value: statusField(name, 'Version') } : attribute,
      ),
    });
    report.imageScanFindings.findings.push(like('CVE-2024-0002', 'libxml2'), like('CVE-2024-0003', 'openssl'));
    const ingested = await client.query(INGEST, { input: { report, format: 'ECR' } });
    expect(ingested.errors).toBeUndefined();

    const findings = await findingsOf(client);

    expect(findings.get('libxml2')?.layer?.index).toBe(0);
    expect(findings.get('libxml2')?.reachability.status).toBe('UNREACHABLE');
    expect(findings.get('openssl')?.layer?.index).toBe(1);
    expect(findings.get('e2fsprogs')?.layer).toBeNull();
    expect(findings.get('e2fsprogs')?.reachability.status).toBe('UNKNOWN');
    expect(findings.get('e2fsprogs')?.reachability.method).toBe('package-match');
    expect(findings.get('e2fsprogs')?.reachability.evidence[0]).toContain('no installed package matched');
  });

  it('turns an UNREACHABLE package REACHABLE with runtime evidence', async () => {
    const client = graphqlClient(local, 'runtime');
    await client.query(INGEST, { input: { report: trivyReport({ withLayers: true }) } });
    await storeAnalysisFor(client);
    const before = (await findingsOf(client)).get('libxml2')!;
    const libxml = analysis.packages.find((pkg) => pkg.name === 'libxml2')!;
    const loaded = libxml.files.find((file) => /libxml2\.so\.2\.\d/.test(file))!;

    const result = await client.query(
      `mutation Evidence($digest: String!, $files: [String!]) {
        recordRuntimeEvidence(imageDigest: $digest, files: $files, source: "test-agent 1.0") { packagesChanged findingsUpdated analysis { counts { reachable unreachable } } }
      }`,
      { digest: built.manifestDigest, files: [loaded] },
    );
    const after = (await findingsOf(client)).get('libxml2')!;
    const trail = await client.query(`query Trail($digest: String!) { imageAuditTrail(digest: $digest) { edges { node { action actor findingId } } } }`, { digest: built.manifestDigest });

    expect(result.errors).toBeUndefined();
    expect(result.data.recordRuntimeEvidence.packagesChanged).toBe(1);
    expect(result.data.recordRuntimeEvidence.findingsUpdated).toBe(1);
    expect(before.reachability.status).toBe('UNREACHABLE');
    expect(before.risk.actionable).toBe(false);
    expect(after.reachability.status).toBe('REACHABLE');
    expect(after.reachability.method).toBe('runtime');
    expect(after.risk.actionable).toBe(true);
    expect(after.risk.score).toBeGreaterThan(before.risk.score);
    expect(trail.data.imageAuditTrail.edges.map((edge: { node: { action: string } }) => edge.node.action)).toContain('REACHABILITY_CHANGED');
  });

  it('keeps runtime evidence when the image is analysed again', async () => {
    const client = graphqlClient(local, 'reanalyse');
    await client.query(INGEST, { input: { report: trivyReport({ withLayers: true }) } });
    await storeAnalysisFor(client);
    await client.query(`mutation { recordRuntimeEvidence(imageDigest: "${built.manifestDigest}", packages: ["libxml2"], source: "profiler") { packagesChanged } }`);

    await storeAnalysisFor(client);

    expect((await findingsOf(client)).get('libxml2')?.reachability.method).toBe('runtime');
  });

  it('rejects runtime evidence with relative paths', async () => {
    const client = graphqlClient(local, 'invalid');
    await storeAnalysisFor(client);

    const result = await client.query(`mutation { recordRuntimeEvidence(imageDigest: "${built.manifestDigest}", files: ["usr/lib/libxml2.so.2"], source: "agent") { packagesChanged } }`);

    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toContain('absolute path');
  });

  it('lists analysed packages with layers and origins', async () => {
    const client = graphqlClient(local, 'packages');
    await storeAnalysisFor(client);

    const result = await client.query(
      `query Analysis($digest: String!) { imageAnalysis(imageDigest: $digest) {
        imageDigest packageCount counts { reachable unreachable unknown }
        packages(first: 2) { pageInfo { hasNextPage endCursor } edges { node { name version type purl layerIndex origin reachability { status method } } } }
      } }`,
      { digest: built.manifestDigest },
    );
    const page = result.data.imageAnalysis.packages;
    const next = await client.query(`query Next($digest: String!, $after: String) { imageAnalysis(imageDigest: $digest) { packages(first: 50, after: $after) { edges { node { name } } } } }`, {
      digest: built.manifestDigest,
      after: page.pageInfo.endCursor,
    });

    expect(result.errors).toBeUndefined();
    expect(result.data.imageAnalysis.packageCount).toBe(analysis.packages.length);
    expect(page.edges).toHaveLength(2);
    expect(page.pageInfo.hasNextPage).toBe(analysis.packages.length > 2);
    expect(page.edges.length + next.data.imageAnalysis.packages.edges.length).toBe(analysis.packages.length);
  });

  it('shows the analysis on the image by image ID', async () => {
    const client = graphqlClient(local, 'byimageid');
    await storeAnalysisFor(client);

    const result = await client.query(`query Image($digest: String!) { image(digest: $digest) { analysis { imageDigest packageCount counts { unreachable } } } }`, { digest: built.imageId });

    expect(result.errors).toBeUndefined();
    expect(result.data.image.analysis.imageDigest).toBe(built.manifestDigest);
    expect(result.data.image.analysis.packageCount).toBe(analysis.packages.length);
    expect(result.data.image.analysis.counts.unreachable).toBe(analysis.reachability.filter((entry) => entry.status === 'UNREACHABLE').length);
  });

  it('queues analyzeImage where a queue exists and rejects it elsewhere', async () => {
    const client = graphqlClient(local, 'queue');
    await storeAnalysisFor(client);
    const queued: AnalysisRequest[] = [];
    const yoga = createGraphQLServer({ store: local.store, clock: local.context().clock, logger: local.context().logger, authenticate: localAuthenticator('queue'), requestAnalysis: async (request) => void queued.push(request) });
    const mutation = `mutation { analyzeImage(imageDigest: "${built.manifestDigest}") { queued imageDigest } }`;

    const withQueue = await (await yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: mutation }) })).json();
    const withoutQueue = await client.query(mutation);

    expect(withQueue.data.analyzeImage).toEqual({ queued: true, imageDigest: built.manifestDigest });
    expect(queued).toEqual([expect.objectContaining({ tenant: 'queue', repository: REPOSITORY, imageDigest: built.manifestDigest })]);
    expect(withoutQueue.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
