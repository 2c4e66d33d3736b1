import { createHash } from 'node:crypto';

import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ingestReport, parseReport } from '@stratum/core';

import { readFixture } from './support/fixtures.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const KEY = 'lambda-test-key';
const DIGEST = 'sha256:33238f8c6291415c499265629b1b82ef791f5a33dff09f25c07264204a26f89b';

let local: TestStore;
let handler: typeof import('../packages/functions/src/graphql.ts').handler;

function apiEvent(body: unknown, headers: Record<string, string> = {}, isBase64Encoded = false): APIGatewayProxyEventV2 {
  const text = JSON.stringify(body);
  return {
    version: '2.0',
    routeKey: 'POST /graphql',
    rawPath: '/graphql',
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: { method: 'POST', path: '/graphql', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: 'req-1',
      routeKey: 'POST /graphql',
      stage: '$default',
      time: '04/Dec/2026:10:00:00 +0000',
      timeEpoch: 0,
    },
    body: isBase64Encoded ? Buffer.from(text).toString('base64') : text,
    isBase64Encoded,
  };
}

const context = { awsRequestId: 'lambda-request-1' } as Context;

beforeAll(async () => {
  local = await startTestStore();
  await ingestReport(local.context('acme'), { report: parseReport(readFixture('reports/trivy/scb-juice-shop-v12.10.2-alpine-node.json')) });

  process.env.STRATUM_TABLE = local.tableName;
  process.env.STRATUM_DYNAMODB_ENDPOINT = local.dynamo.endpoint;
  process.env.STRATUM_AUTH_MODE = 'api-key';
  process.env.STRATUM_API_KEYS = `${createHash('sha256').update(KEY).digest('hex')}=acme`;
  ({ handler } = await import('../packages/functions/src/graphql.ts'));
});

afterAll(async () => {
  delete process.env.STRATUM_DYNAMODB_ENDPOINT;
  await local.close();
});

describe('GraphQL Lambda handler', () => {
  const query = { query: `{ image(digest: "${DIGEST}") { repository summary { total } } }` };

  it('answers an authenticated request', async () => {
    const response = await handler(apiEvent(query, { 'x-api-key': KEY }), context);
    const body = JSON.parse(response.body!);

    expect(response.statusCode).toBe(200);
    expect(body.data.image).toEqual({ repository: 'bkimminich/juice-shop', summary: { total: 182 } });
  });

  it('decodes a base64 body', async () => {
    const response = await handler(apiEvent(query, { 'x-api-key': KEY }, true), context);

    expect(JSON.parse(response.body!).data.image.summary.total).toBe(182);
  });

  it('rejects a request without credential', async () => {
    const response = await handler(apiEvent(query), context);
    const body = JSON.parse(response.body!);

    expect(response.statusCode).toBe(401);
    expect(body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(body.data ?? null).toBeNull();
  });
});
