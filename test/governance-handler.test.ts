import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ECRClient } from '@aws-sdk/client-ecr';

import { fixedClock, ingestGovernance, ingestReport, instantiateWorkflowTemplate, sha256, silentLogger, type ParsedReport } from '@stratum/core';

import { handleSlaEscalation } from '../packages/functions/src/sla-escalation.ts';
import { emailChannel, putChannels } from './support/channels.ts';
import { RecordingDispatcher } from './support/recording-dispatcher.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const DAY = 86_400_000;

let local: TestStore;

beforeAll(async () => {
  local = await startTestStore();
});

afterAll(async () => {
  await local.close();
});

describe('SLA handler', () => {
  function report(digest: string): ParsedReport {
    return {
      format: 'TRIVY',
      scanner: { name: 'trivy' },
      image: { manifestDigest: digest, repository: 'shop/api', tags: [] },
      findings: [{ vulnerabilityId: 'CVE-2023-0286', aliases: [], severity: 'HIGH', package: { name: 'openssl', version: '3.0.7-r0', type: 'apk' } }],
    };
  }

  it('visits every tenant with workflows', async () => {
    const clock = fixedClock('2026-12-01T07:00:00Z');
    const alerts = new RecordingDispatcher();
    for (const tenant of ['handler-a', 'handler-b']) {
      const store = local.store.forTenant(tenant);
      await putChannels(store, [emailChannel(`${tenant}-email`)]);
      await instantiateWorkflowTemplate({ store, clock, logger: silentLogger, actor: 'test' }, 'sla-by-severity', { alertChannelIds: [`${tenant}-email`] });
      await ingestReport({ store, clock, logger: silentLogger, governance: ingestGovernance({ store, clock, logger: silentLogger }) }, { report: report(sha256(tenant)) });
    }
    const dependencies = { store: local.store, clock, logger: silentLogger, ecr: () => new ECRClient({ region: 'us-east-1' }), tenantForAccount: () => 'unused' };

    clock.advance(31 * DAY);
    const first = await handleSlaEscalation(dependencies, alerts);
    const second = await handleSlaEscalation(dependencies, alerts);

    expect(first.tenants).toBe(2);
    expect(first.opened).toBe(2);
    expect(first.alertsSent).toBe(2);
    expect(second.alertsSent).toBe(0);
    expect(alerts.requests.map((request) => [request.tenant, request.channelIds[0]]).sort()).toEqual([
      ['handler-a', 'handler-a-email'],
      ['handler-b', 'handler-b-email'],
    ]);
  });
});
