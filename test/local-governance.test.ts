import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { fixedClock, signBody, silentLogger } from '@stratum/core';
import { startLocalServer, type LocalServer } from '../packages/functions/src/local/server.ts';

import { readFixture } from './support/fixtures.ts';

const DAY = 86_400_000;
const WEBHOOK_KEY = 'local-governance-webhook-key-5c1e9a';
// Its only application-layer findings are CVE-2019-15542 (HIGH, due in 30 days) and CVE-2021-38193 (MEDIUM, due in 90).
const REPORT = 'reports/trivy/trivy-golden-busybox-cargo-no-os.json';
// Layer history places its base image below the application's layers.
const REPORT_WITH_BASE = 'reports/trivy/scb-juice-shop-v12.10.2-alpine-node.json';
// The local server delivers alerts in the background, which can take seconds while the full suite runs on 2 cores.
const DELIVERY_WAIT = { timeout: 30_000, interval: 50 };

interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
}

const clock = fixedClock('2026-12-01T12:00:00Z');
let dataDir: string;
let server: LocalServer;
let webhookServer: ReturnType<typeof createServer>;
let webhookUrl: string;
const received: ReceivedRequest[] = [];

async function graphql<T = any>(query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: Array<{ message: string }> }> {
  const response = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return response.json() as Promise<{ data?: T; errors?: Array<{ message: string }> }>;
}

async function createWebhookChannel(name: string): Promise<string> {
  const result = await graphql('mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id secretConfigured } }', {
    input: { name, kind: 'WEBHOOK', webhook: { url: `${webhookUrl}/hook` }, secret: { value: WEBHOOK_KEY } },
  });
  expect(result.errors).toBeUndefined();
  expect(result.data.createAlertChannel.secretConfigured).toBe(true);
  return result.data.createAlertChannel.id;
}

async function ingest(fixture: string): Promise<void> {
  const result = await graphql('mutation($input: IngestScanReportInput!) { ingestScanReport(input: $input) { findingCount } }', { input: { report: readFixture(fixture) } });
  expect(result.errors).toBeUndefined();
}

const isSigned = (request: ReceivedRequest) => request.headers['x-stratum-signature'] === `sha256=${signBody(request.body, WEBHOOK_KEY)}`;
const eventsOf = (kind: string) => received.filter((request) => request.headers['x-stratum-event'] === kind);

const RUN_SLA = 'mutation { runSlaEscalation { ranAt dueRecords opened escalated closed resolvedRecords alertsDispatched } }';
const VIOLATIONS = `{ violations(first: 10) { edges { node {
  id state severity finding { vulnerabilityId }
  alerts(first: 10) { edges { node { id alertKey channelId state } } }
} } } }`;

beforeAll(async () => {
  webhookServer = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => webhookServer.listen(0, '127.0.0.1', resolve));
  webhookUrl = `http://127.0.0.1:${(webhookServer.address() as AddressInfo).port}`;

  dataDir = await mkdtemp(join(tmpdir(), 'stratum-local-governance-'));
  server = await startLocalServer({ dataDir, port: 0, seedSamples: false, clock, logger: silentLogger });
});

afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => webhookServer.close(resolve));
  await rm(dataDir, { recursive: true, force: true });
});

describe('local governance', () => {
  it('keeps the alert key in the data folder', async () => {
    await createWebhookChannel('Key check');
    const key = await stat(join(dataDir, 'alert-secrets.key'));

    expect(key.isFile()).toBe(true);
    expect(key.mode & 0o777).toBe(0o600);
  });

  it('SLA pass alerts once per violation', async () => {
    const channelId = await createWebhookChannel('Security chat');
    const instantiated = await graphql('mutation($channels: [String!]) { instantiateWorkflowTemplate(templateId: "sla-by-severity", overrides: { alertChannelIds: $channels }) { id } }', { channels: [channelId] });
    expect(instantiated.errors).toBeUndefined();
    await ingest(REPORT);

    // Before the 30-day deadline of the HIGH finding, the pass opens nothing.
    clock.advance(29 * DAY);
    const early = await graphql(RUN_SLA);
    expect(early.errors).toBeUndefined();
    expect(early.data.runSlaEscalation).toMatchObject({ opened: 0, alertsDispatched: 0 });

    clock.advance(2 * DAY);
    const first = await graphql(RUN_SLA);
    expect(first.errors).toBeUndefined();
    expect(first.data.runSlaEscalation).toEqual({ ranAt: clock.now().toISOString(), dueRecords: 1, opened: 1, escalated: 0, closed: 0, resolvedRecords: 0, alertsDispatched: 1 });

    await vi.waitFor(() => expect(eventsOf('VIOLATION_OPENED')).toHaveLength(1), DELIVERY_WAIT);
    const [delivered] = eventsOf('VIOLATION_OPENED');
    const body = JSON.parse(delivered!.body);
    expect(isSigned(delivered!)).toBe(true);
    expect(body.alert.details.finding.vulnerabilityId).toBe('CVE-2019-15542');

    // The worker marks the delivery SENT after the webhook responds, so the state can lag the request.
    const violation = await vi.waitFor(async () => {
      const result = await graphql(VIOLATIONS);
      const node = result.data.violations.edges[0].node;
      expect(node.alerts.edges[0].node.state).toBe('SENT');
      return node;
    }, DELIVERY_WAIT);
    const violations = await graphql(VIOLATIONS);
    expect(violations.data.violations.edges).toHaveLength(1);
    expect(violation.state).toBe('OPEN');
    expect(violation.severity).toBe('HIGH');
    expect(violation.finding.vulnerabilityId).toBe('CVE-2019-15542');
    expect(body.alert.violationId).toBe(violation.id);
    expect(violation.alerts.edges).toHaveLength(1);
    expect(violation.alerts.edges[0].node).toMatchObject({ id: delivered!.headers['x-stratum-delivery'], alertKey: body.alert.key, channelId });

    const second = await graphql(RUN_SLA);
    expect(second.errors).toBeUndefined();
    expect(second.data.runSlaEscalation).toMatchObject({ opened: 0, escalated: 0, closed: 0, alertsDispatched: 0 });
    // With no delivery left pending, nothing can reach the webhook later.
    const pending = await graphql('{ alertDeliveries(state: PENDING, first: 10) { edges { node { id } } } }');
    expect(pending.data.alertDeliveries.edges).toEqual([]);
    expect(eventsOf('VIOLATION_OPENED')).toHaveLength(1);
  });

  it('report upload alerts a new base image', async () => {
    const channelId = await createWebhookChannel('Base images');
    const instantiated = await graphql('mutation($channels: [String!]) { instantiateWorkflowTemplate(templateId: "alert-new-base-image", overrides: { alertChannelIds: $channels }) { id } }', { channels: [channelId] });
    expect(instantiated.errors).toBeUndefined();

    await ingest(REPORT_WITH_BASE);

    await vi.waitFor(() => expect(eventsOf('NEW_BASE_IMAGE')).toHaveLength(1), DELIVERY_WAIT);
    const [delivered] = eventsOf('NEW_BASE_IMAGE');
    const body = JSON.parse(delivered!.body);
    expect(isSigned(delivered!)).toBe(true);
    expect(body.alert.details.image.repository).toBe('bkimminich/juice-shop');
    // Layer history gives the base no name, so the alert describes it instead of naming the image itself.
    expect(body.alert.details.baseImage.name).toBeUndefined();
    expect(body.alert.subject).toBe(`New base image in bkimminich/juice-shop: a base of ${body.alert.details.baseImage.layerCount} layers`);
    expect(body.alert.text).toMatch(/^bkimminich\/juice-shop is built on a base of \d+ layers first seen in this image \(detected by /);
  });
});
