import type { AlertChannel, TenantStore } from '@stratum/core';

const CREATED_AT = '2026-12-01T00:00:00.000Z';

/**
 * Alert channels stored directly, for workflows that must name existing channels. They are
 * disabled unless `enabled` is set, so a delivery runner fails their deliveries at once and
 * never calls the example hosts they name.
 */
export function emailChannel(id: string, enabled = false): AlertChannel {
  return { id, name: id, kind: 'EMAIL', enabled, createdAt: CREATED_AT, updatedAt: CREATED_AT, health: { consecutiveFailures: 0 }, email: { from: 'stratum@example.com', to: ['team@example.com'] } };
}

export function jiraChannel(id: string, options: { closeTransition?: string; enabled?: boolean } = {}): AlertChannel {
  return {
    id,
    name: id,
    kind: 'JIRA',
    enabled: options.enabled ?? false,
    createdAt: CREATED_AT,
    updatedAt: CREATED_AT,
    health: { consecutiveFailures: 0 },
    jira: { deployment: 'CLOUD', baseUrl: 'https://jira.example.com', projectKey: 'SEC', issueType: 'Bug', userEmail: 'bot@example.com', labels: [], fieldMapping: {}, ...(options.closeTransition ? { closeTransition: options.closeTransition } : {}) },
    secret: { source: 'SSM', parameterName: '/stratum/jira-token' },
  };
}

export async function putChannels(store: TenantStore, channels: AlertChannel[]): Promise<void> {
  for (const channel of channels) await store.alerts.putChannel(channel, null);
}
