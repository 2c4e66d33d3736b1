import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { silentLogger } from '@stratum/core';
import { EXAMPLE_QUERY, startLocalServer, type LocalServer } from '../packages/functions/src/local/server.ts';

import { readFixture } from './support/fixtures.ts';

let dataDir: string;
let server: LocalServer;

async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: await response.json() };
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'stratum-local-'));
  server = await startLocalServer({ dataDir, port: 0, logger: silentLogger });
});

afterAll(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('local stack', () => {
  it('answers the example query with real findings', async () => {
    const { status, json } = await post('/graphql', { query: EXAMPLE_QUERY });
    const image = json.data.images.edges[0].node;

    expect(status).toBe(200);
    expect(image.repository).toBe('bkimminich/juice-shop');
    expect(image.summary.total).toBe(182);
    expect(image.summary.base.total).toBe(40);
    expect(image.summary.application.total).toBe(142);
    expect(image.findings.edges).toHaveLength(5);
    expect(image.findings.edges.every((edge: { node: { origin: string } }) => edge.node.origin === 'APPLICATION')).toBe(true);
  });

  it('ingests all bundled samples', async () => {
    const { json } = await post('/graphql', {
      query: `{
        dojo: images(repository: "defectdojo/defectdojo-django", first: 1) { edges { node { baseImage { method layerCount } summary { total } } } }
      }`,
    });

    expect(json.data.dojo.edges[0].node.summary.total).toBe(327);
    expect(json.data.dojo.edges[0].node.baseImage).toEqual({ method: 'HISTORY', layerCount: 5 });
  });

  it('serves GraphiQL to a browser', async () => {
    const response = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });

    expect(response.status).toBe(200);
    expect(await response.text()).toContain('GraphiQL');
  });

  it('explains scan events need AWS', async () => {
    const { status, json } = await post('/events', readFixture('events/eventbridge-ecr-image-scan-basic.json'));

    // Without AWS, scan findings cannot be read from ECR; the answer says how to proceed.
    expect(status).toBe(400);
    expect(json.error).toMatch(/ingestScanReport/);
  });

  it('names an unsupported event type', async () => {
    const { status, json } = await post('/events', { 'detail-type': 'EC2 Instance State-change Notification' });

    expect(status).toBe(400);
    expect(json.error).toMatch(/Unsupported event detail-type "EC2 Instance State-change Notification"/);
  });

  it('rejects a body that is not JSON', async () => {
    const response = await fetch(`${server.url}/events`, { method: 'POST', body: '{not json' });

    expect(response.status).toBe(400);
  });

  it('keeps data across restarts', async () => {
    await server.close();
    server = await startLocalServer({ dataDir, port: 0, logger: silentLogger });
    const { json } = await post('/graphql', { query: '{ images(repository: "bkimminich/juice-shop", first: 5) { edges { node { summary { total } } } } }' });

    expect(json.data.images.edges).toHaveLength(1);
    expect(json.data.images.edges[0].node.summary.total).toBe(182);
  });
});
