import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

import { printSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ingestReport, parseReport, type ParsedReport, type ReportedFinding } from '@stratum/core';
import { apiKeyAuthenticator, createGraphQLServer, localAuthenticator, schema } from '@stratum/graphql';

import { readFixture } from './support/fixtures.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const JUICE_SHOP = 'reports/trivy/scb-juice-shop-v12.10.2-alpine-node.json';

let local: TestStore;
let yoga: ReturnType<typeof createGraphQLServer>;

interface GraphQLResponse<T = Record<string, any>> {
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string; field?: string } }>;
}

async function graphql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}, server = yoga): Promise<GraphQLResponse<T>> {
  const response = await server.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResponse<T>;
}

const INGEST = `mutation Ingest($input: IngestScanReportInput!) {
  ingestScanReport(input: $input) { findingCount unchanged image { digest imageId repository tags baseImage { method layerCount } } }
}`;

beforeAll(async () => {
  local = await startTestStore();
  yoga = createGraphQLServer({ store: local.store, clock: local.context().clock, logger: local.context().logger, authenticate: localAuthenticator('gql') });
});

afterAll(async () => {
  await local.close();
});

describe('GraphQL schema', () => {
  it('matches the committed schema', () => {
    const committed = readFileSync(new URL('../packages/graphql/schema.graphql', import.meta.url), 'utf8');

    // Run `npm run schema` after changing the schema, and commit the result.
    expect(`${printSchema(schema)}\n`).toBe(committed);
  });
});

describe('GraphQL ingest and queries', () => {
  let digest: string;

  beforeAll(async () => {
    const result = await graphql(INGEST, { input: { report: readFixture(JUICE_SHOP), tags: ['latest'] } });
    expect(result.errors).toBeUndefined();
    digest = result.data!.ingestScanReport.image.digest;
  });

  it('returns the ingest result', async () => {
    const result = await graphql(INGEST, { input: { report: readFixture(JUICE_SHOP), digest } });

    expect(result.data?.ingestScanReport.findingCount).toBe(182);
    expect(result.data?.ingestScanReport.unchanged).toBe(true);
    expect(result.data?.ingestScanReport.image.repository).toBe('bkimminich/juice-shop');
    expect(result.data?.ingestScanReport.image.tags).toEqual(['latest', 'v12.10.2']);
    expect(result.data?.ingestScanReport.image.baseImage).toEqual({ method: 'HISTORY', layerCount: 4 });
  });

  it('serves the image with summary and layers', async () => {
    const result = await graphql(
      `query ($digest: String!) { image(digest: $digest) {
        imageId layers { index diffId digest origin createdBy }
        summary { total base { total } application { total critical } unknown { total } all { critical } }
      } }`,
      { digest },
    );
    const image = result.data?.image;

    expect(image.imageId).toBe('sha256:be30ca1df4be08840f6ca53885a1d371d35f54eae326161a2a40aa3c535fe703');
    expect(image.layers).toHaveLength(8);
    expect(image.layers[6]).toMatchObject({ index: 6, origin: 'APPLICATION', createdBy: 'COPY /juice-shop . # buildkit' });
    expect(image.layers[0].origin).toBe('BASE');
    expect(image.summary.total).toBe(182);
    expect(image.summary.base.total + image.summary.application.total + image.summary.unknown.total).toBe(182);
    expect(image.summary.application.total).toBe(142);
  });

  it('finds the image by image ID', async () => {
    const result = await graphql(`{ image(digest: "sha256:be30ca1df4be08840f6ca53885a1d371d35f54eae326161a2a40aa3c535fe703") { digest } }`);

    expect(result.data?.image.digest).toBe(digest);
  });

  it('filters findings by origin and severity', async () => {
    const result = await graphql(
      `query ($digest: String!) { image(digest: $digest) { findings(first: 100, filter: { origin: APPLICATION, severity: [CRITICAL] }) {
        edges { node { vulnerabilityId severity origin package { name type } layer { index } } }
        pageInfo { hasNextPage }
      } } }`,
      { digest },
    );
    const edges = result.data?.image.findings.edges as Array<{ node: { severity: string; origin: string; layer: { index: number } } }>;

    expect(edges.length).toBe(24);
    expect(edges.every(({ node }) => node.severity === 'CRITICAL' && node.origin === 'APPLICATION')).toBe(true);
    expect(edges.every(({ node }) => node.layer.index === 6)).toBe(true);
  });

  it('lists images of a repository', async () => {
    const result = await graphql(`{ images(repository: "bkimminich/juice-shop", first: 5) { edges { node { digest } } pageInfo { hasNextPage } } }`);

    expect(result.data?.images.edges).toEqual([{ node: { digest } }]);
    expect(result.data?.images.pageInfo.hasNextPage).toBe(false);
  });

  it('shows where a vulnerability lives', async () => {
    const result = await graphql(`{ vulnerability(id: "cve-2021-42378") { id occurrences(first: 10) { edges { node { image { digest } finding { origin package { name } } } } } } }`);
    const occurrences = result.data?.vulnerability.occurrences.edges as Array<{ node: { finding: { origin: string; package: { name: string } } } }>;

    expect(result.data?.vulnerability.id).toBe('CVE-2021-42378');
    expect(occurrences.map(({ node }) => node.finding.package.name).sort()).toEqual(['busybox', 'ssl_client']);
    expect(occurrences.every(({ node }) => node.finding.origin === 'BASE')).toBe(true);
  });

  it('returns null for an unknown image', async () => {
    const result = await graphql(`{ image(digest: "sha256:${'0'.repeat(64)}") { digest } }`);

    expect(result.errors).toBeUndefined();
    expect(result.data?.image).toBeNull();
  });

  it.each([
    ['an invalid digest', `{ image(digest: "sha256:abc") { digest } }`, 'digest'],
    ['an oversized page', `{ images(repository: "a", first: 5000) { edges { cursor } } }`, 'first'],
    ['a forged cursor', `{ images(repository: "a", first: 5, after: "bm9wZQ") { edges { cursor } } }`, 'after'],
    ['backward paging', `{ images(repository: "a", last: 5) { edges { cursor } } }`, 'last'],
    ['a bad vulnerability id', `{ vulnerability(id: "not an id") { id } }`, 'id'],
  ])('rejects %s with BAD_USER_INPUT', async (_case, query, field) => {
    const result = await graphql(query);

    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.extensions?.field).toBe(field);
  });

  it('rejects a cursor from another list', async () => {
    const images = await graphql(`{ images(repository: "bkimminich/juice-shop", first: 1) { pageInfo { endCursor } } }`);
    const cursor = images.data?.images.pageInfo.endCursor;
    const result = await graphql(`query ($after: String!) { images(repository: "library/alpine", first: 1, after: $after) { edges { cursor } } }`, { after: cursor });

    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toMatch(/belongs to another list/);
  });

  it('keeps the repository on re-ingest', async () => {
    const result = await graphql(INGEST, { input: { report: readFixture(JUICE_SHOP), repository: 'team/app' } });
    const listed = await graphql(`{ images(repository: "bkimminich/juice-shop", first: 5) { edges { node { digest } } } }`);

    expect(result.data?.ingestScanReport.image.repository).toBe('bkimminich/juice-shop');
    expect(listed.data?.images.edges).toHaveLength(1);
  });

  it('accepts a report sent as a string', async () => {
    const result = await graphql(INGEST, { input: { report: JSON.stringify(readFixture('reports/trivy/trivy-golden-alpine-310.json')), digest: `sha256:${'9'.repeat(64)}` } });

    expect(result.errors).toBeUndefined();
    expect(result.data?.ingestScanReport.findingCount).toBe(4);
  });

  it('rejects a report string that is not JSON', async () => {
    const result = await graphql(INGEST, { input: { report: '{"Results": [' } });

    expect(result.errors?.[0]?.extensions?.field).toBe('input.report');
  });

  it('rejects an unrecognised report', async () => {
    const result = await graphql(INGEST, { input: { report: { hello: 'world' } } });

    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toMatch(/Unrecognised scan report: tried CYCLONEDX, GRYPE, TRIVY, ECR, INSPECTOR2/);
  });

  it('names the field of a malformed report', async () => {
    const report = readFixture<{ Results: Array<{ Vulnerabilities: Array<Record<string, unknown>> }> }>(JUICE_SHOP);
    report.Results[0]!.Vulnerabilities[3]!.PkgName = 42;
    const result = await graphql(INGEST, { input: { report, digest: `sha256:${'e'.repeat(64)}` } });
    const stored = await graphql(`{ image(digest: "sha256:${'e'.repeat(64)}") { digest } }`);

    expect(result.errors?.[0]?.message).toMatch(/Trivy JSON document at Results\[0\]\.Vulnerabilities\[3\]\.PkgName/);
    expect(stored.data?.image).toBeNull();
  });

  it('limits aliases per query', async () => {
    const aliases = Array.from({ length: 25 }, (_, i) => `a${i}: image(digest: "${digest}") { digest }`).join(' ');
    const result = await graphql(`{ ${aliases} }`);

    expect(result.errors?.[0]?.message).toMatch(/Aliases limit of 20 exceeded, found 25/);
    expect(result.data).toBeUndefined();
  });

  it('allows the deepest schema path', async () => {
    const result = await graphql(`{ vulnerability(id: "CVE-2021-42378") { occurrences(first: 1) { edges { node { image { findings(first: 1) { edges { node { vexHistory { before { reason } } layer { index } } } } } } } } } }`);

    expect(result.errors).toBeUndefined();
  });

  it.each([
    { name: 'extra field in a variable', query: 'mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id } }', variables: { input: { name: 'Hook', kind: 'WEBHOOK', webhook: { url: 'https://hooks.example.com/a' }, secret: { value: 'LeakCheck-XYZ-1234567890', bogus: 1 } } }, problem: 'Field "bogus" is not defined by type "AlertSecretInput"' },
    { name: 'wrong scalar in a variable', query: 'mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id } }', variables: { input: { name: 'Hook', kind: 'WEBHOOK', webhook: { url: 'https://hooks.example.com/a' }, secret: { value: { key: 'LeakCheck-XYZ-1234567890' } } } }, problem: 'String cannot represent a non string value.' },
    { name: 'unknown enum in a variable', query: 'mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id } }', variables: { input: { name: 'Hook', kind: 'LeakCheck-XYZ-1234567890' } }, problem: 'does not exist in the "AlertChannelKind" enum' },
    { name: 'wrong literal', query: 'mutation { createAlertChannel(input: { name: "Hook", kind: WEBHOOK, secret: "LeakCheck-XYZ-1234567890" }) { id } }', variables: {}, problem: 'Expected value of type "AlertSecretInput", found an invalid value.' },
    { name: 'string literal for an enum', query: 'mutation { createAlertChannel(input: { name: "Hook", kind: "LeakCheck-XYZ-1234567890" }) { id } }', variables: {}, problem: 'AlertChannelKind' },
  ])('keeps input values out of errors: $name', async ({ query, variables, problem }) => {
    const response = await yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const text = await response.text();
    const body = JSON.parse(text) as GraphQLResponse;

    expect(text).not.toContain('LeakCheck-XYZ-1234567890');
    expect(body.errors?.length).toBeGreaterThan(0);
    expect(body.errors!.map((error) => error.message).join('\n')).toContain(problem);
  });

  it('names the path of an invalid variable', async () => {
    const result = await graphql('mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id } }', { input: { name: 'Hook', kind: 'WEBHOOK', secret: { value: 'LeakCheck-XYZ-1234567890', bogus: 1 } } });

    expect(result.errors?.[0]?.message).toBe('Variable "$input" got an invalid value at "input.secret"; Field "bogus" is not defined by type "AlertSecretInput".');
  });

  it('masks unexpected errors', async () => {
    const broken = createGraphQLServer({
      store: local.store,
      clock: local.context().clock,
      logger: local.context().logger,
      authenticate: () => {
        throw new Error('database password is hunter2');
      },
    });
    const response = await broken.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
    const text = await response.text();

    expect(text).not.toContain('hunter2');
  });
});

describe('GraphQL authentication', () => {
  const key = 'test-key-for-acme';
  const JUICE_SHOP_DIGEST = 'sha256:33238f8c6291415c499265629b1b82ef791f5a33dff09f25c07264204a26f89b';
  const ALPINE_DIGEST = `sha256:${'a'.repeat(64)}`;
  const hash = createHash('sha256').update(key).digest('hex');
  let secured: ReturnType<typeof createGraphQLServer>;

  beforeAll(async () => {
    secured = createGraphQLServer({ store: local.store, clock: local.context().clock, logger: local.context().logger, authenticate: apiKeyAuthenticator(`${hash}=acme-auth`) });
    await ingestReport(local.context('acme-auth'), { report: parseReport(readFixture(JUICE_SHOP)) });
    await ingestReport(local.context('gql'), { report: parseReport(readFixture('reports/trivy/trivy-golden-alpine-310.json')), digest: ALPINE_DIGEST });
  });

  it('rejects a request without key', async () => {
    const result = await graphql(`{ image(digest: "sha256:${'f'.repeat(64)}") { digest } }`, undefined, {}, secured);

    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('rejects a wrong key', async () => {
    const result = await graphql(`{ image(digest: "sha256:${'f'.repeat(64)}") { digest } }`, undefined, { 'x-api-key': 'guess' }, secured);

    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('scopes a valid key to its tenant', async () => {
    const own = await graphql(`{ image(digest: "${JUICE_SHOP_DIGEST}") { digest } }`, undefined, { 'x-api-key': key }, secured);
    const other = await graphql(`{ image(digest: "${ALPINE_DIGEST}") { digest } }`, undefined, { 'x-api-key': key }, secured);

    expect(own.data?.image.digest).toBe(JUICE_SHOP_DIGEST);
    expect(other.data?.image).toBeNull();
  });
});

describe('DynamoDB requests per findings page', () => {
  function syntheticReport(count: number): ParsedReport {
    const template = parseReport(readFixture(JUICE_SHOP));
    const findings: ReportedFinding[] = [];
    for (let i = 0; i < count; i++) {
      const source = template.findings[i % template.findings.length]!;
      findings.push({ ...source, vulnerabilityId: `CVE-2099-${String(i).padStart(5, '0')}` });
    }
    return { ...template, image: { tags: [] }, findings };
  }

  const PAGE = `query ($digest: String!) { image(digest: $digest) { summary { total } findings(first: 50) { edges { node { id severity layer { index } } } pageInfo { hasNextPage } } } }`;
  const ORIGIN_PAGE = `query ($digest: String!) { image(digest: $digest) { findings(first: 50, filter: { origin: BASE, severity: [HIGH] }) { edges { node { id } } } } }`;

  it('costs the same for 100 and 10,000 findings', async () => {
    const small = `sha256:${'1'.repeat(64)}`;
    const large = `sha256:${'2'.repeat(64)}`;
    await ingestReport(local.context('gql'), { report: syntheticReport(100), digest: small });
    await ingestReport(local.context('gql'), { report: syntheticReport(10_000), digest: large });

    const counts: Record<string, string[]> = {};
    for (const [name, digest, query] of [
      ['small', small, PAGE],
      ['large', large, PAGE],
      ['small-origin', small, ORIGIN_PAGE],
      ['large-origin', large, ORIGIN_PAGE],
    ] as const) {
      local.commands.length = 0;
      const result = await graphql(query, { digest });
      expect(result.errors).toBeUndefined();
      counts[name] = [...local.commands];
    }

    expect(counts.small).toEqual(['BatchGetItemCommand', 'QueryCommand']);
    expect(counts.large).toEqual(counts.small);
    expect(counts['large-origin']).toEqual(counts['small-origin']);
    expect(Object.values(counts).flat()).not.toContain('ScanCommand');
  });
});
