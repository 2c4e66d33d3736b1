import type { JiraConfig } from '../channel.ts';
import { jiraIssueLabel, type Alert } from '../model.ts';
import { DeliveryError } from '../retry.ts';
import { request, type FetchFunction } from './http.ts';
import { deliveryMarker, type SendContext, type Sender } from './types.ts';

/** Jira accepts at most 255 characters in a summary. */
const MAX_SUMMARY = 255;

interface JiraIssue {
  key: string;
  fields?: { description?: unknown };
}

/**
 * Creates one Jira issue per violation and comments on it for later alerts.
 *
 * Exactly one issue, also across crashes and replays:
 * 1. the store's link item for (channel, label) names the issue once one was recorded;
 * 2. otherwise a JQL search for the label finds an issue whose creation was not recorded;
 * 3. only then is an issue created, with the label, and recorded right away.
 * An alert without violation gets its own label from its key, so it also creates one issue.
 */
export function jiraSender(fetchImpl: FetchFunction = fetch): Sender {
  return async (context) => {
    const { channel, alert, delivery, secret } = context;
    if (channel.kind !== 'JIRA') throw new DeliveryError(`Channel ${channel.id} is not a Jira channel`, false);
    if (!secret) throw new DeliveryError(`Jira channel ${channel.id} has no API token; set its secret`, false);
    // fetch quotes an invalid header value in its error, so such a token is rejected here, unquoted.
    if (!/^[\x21-\x7e]+$/.test(secret)) throw new DeliveryError(`The API token of Jira channel ${channel.id} contains spaces, line breaks or non-ASCII characters; store the token without them`, false);

    const jira = new JiraClient(fetchImpl, channel.jira, secret, context.now);
    const subject = alert.violationId ? `violation:${alert.violationId}` : `alert:${alert.key}`;
    const label = jiraIssueLabel(context.tenant, subject);
    const marker = deliveryMarker(delivery.id);

    const { issueKey, createdByThisDelivery } = await findOrCreateIssue(context, jira, label, marker);

    if (!createdByThisDelivery) {
      // A retry after a comment whose result was not recorded must not comment twice.
      const already = context.attempt > 1 && (await jira.commentBodies(issueKey)).some((body) => body.includes(marker));
      if (!already) await jira.addComment(issueKey, `${alert.subject}\n\n${alert.text}\n\n${marker}`);
    }

    if (alert.kind === 'VIOLATION_CLOSED' && channel.jira.closeTransition) {
      const applied = await jira.transition(issueKey, channel.jira.closeTransition);
      if (!applied) context.logger.warn('jira transition not available', { tenant: context.tenant, channelId: channel.id, issueKey, transition: channel.jira.closeTransition });
    }

    return { externalId: issueKey };
  };
}

async function findOrCreateIssue(context: SendContext, jira: JiraClient, label: string, marker: string): Promise<{ issueKey: string; createdByThisDelivery: boolean }> {
  const { store, channel, delivery, now } = context;

  const link = await store.getJiraIssue(channel.id, label);
  if (link) return { issueKey: link.issueKey, createdByThisDelivery: link.createdByDelivery === delivery.id };

  const found = await jira.findByLabel(label);
  if (found) {
    // createIssue puts the creating delivery's marker into the description.
    const createdBy = JSON.stringify(found.fields?.description ?? '').includes(marker) ? delivery.id : undefined;
    const recorded = await store.putJiraIssue(channel.id, { issueKey: found.key, label, createdAt: now.toISOString(), ...(createdBy ? { createdByDelivery: createdBy } : {}) });
    return { issueKey: recorded.issueKey, createdByThisDelivery: recorded.createdByDelivery === delivery.id };
  }

  const issueKey = await jira.createIssue(context.alert, label, marker);
  context.logger.info('jira issue created', { tenant: context.tenant, channelId: channel.id, deliveryId: delivery.id, issueKey });
  const recorded = await store.putJiraIssue(channel.id, { issueKey, label, createdAt: now.toISOString(), createdByDelivery: delivery.id });
  return { issueKey: recorded.issueKey, createdByThisDelivery: recorded.createdByDelivery === delivery.id };
}

/** Reads a value at a dot path of the alert details. */
function detailAt(details: Record<string, unknown>, path: string): unknown {
  let current: unknown = details;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** The few Jira REST calls the sender makes: version 2 for writes, which takes plain-text descriptions and comments on Cloud and Data Center. */
class JiraClient {
  private readonly base: string;
  private readonly authorization: string;

  constructor(
    private readonly fetchImpl: FetchFunction,
    private readonly config: JiraConfig,
    token: string,
    private readonly now: Date,
  ) {
    this.base = config.baseUrl.replace(/\/+$/, '');
    // Cloud uses basic authentication with the user's email and an API token; Data Center a personal access token.
    this.authorization = config.deployment === 'CLOUD' ? `Basic ${Buffer.from(`${config.userEmail}:${token}`).toString('base64')}` : `Bearer ${token}`;
  }

  async findByLabel(label: string): Promise<JiraIssue | undefined> {
    const jql = `project = "${this.config.projectKey}" AND labels = "${label}" ORDER BY created ASC`;
    // Jira Cloud removed /rest/api/2/search and /rest/api/3/search in favour of /search/jql; Data Center keeps /rest/api/2/search.
    const path = this.config.deployment === 'CLOUD' ? '/rest/api/3/search/jql' : '/rest/api/2/search';
    const query = new URLSearchParams({ jql, fields: 'summary,description', maxResults: '1' });
    const result = (await this.json('GET', `${path}?${query}`, undefined, 'Jira search')) as { issues?: JiraIssue[] };
    return result.issues?.[0];
  }

  async createIssue(alert: Alert, label: string, marker: string): Promise<string> {
    const fields: Record<string, unknown> = {
      project: { key: this.config.projectKey },
      issuetype: { name: this.config.issueType },
      summary: alert.subject.slice(0, MAX_SUMMARY),
      description: `${alert.text}\n\n${marker}`,
      labels: [label, ...this.config.labels],
    };

    // Violation alerts carry the severity under finding; other alerts may carry it at the top.
    const severity = detailAt(alert.details, 'severity') ?? detailAt(alert.details, 'finding.severity');
    const priority = typeof severity === 'string' ? this.config.priorityBySeverity?.[severity as keyof NonNullable<JiraConfig['priorityBySeverity']>] : undefined;
    if (priority) fields.priority = { name: priority };

    for (const [field, path] of Object.entries(this.config.fieldMapping)) {
      const value = detailAt(alert.details, path);
      if (value !== undefined && value !== null) fields[field] = value;
    }

    const created = (await this.json('POST', '/rest/api/2/issue', { fields }, 'Jira issue creation')) as { key?: string };
    if (!created.key) throw new DeliveryError('Jira issue creation returned no issue key', true);
    return created.key;
  }

  async addComment(issueKey: string, body: string): Promise<void> {
    await this.json('POST', `/rest/api/2/issue/${encodeURIComponent(issueKey)}/comment`, { body }, `Jira comment on ${issueKey}`);
  }

  async commentBodies(issueKey: string): Promise<string[]> {
    const result = (await this.json('GET', `/rest/api/2/issue/${encodeURIComponent(issueKey)}/comment?maxResults=100&orderBy=-created`, undefined, `Jira comments of ${issueKey}`)) as { comments?: Array<{ body?: unknown }> };
    return (result.comments ?? []).map((comment) => (typeof comment.body === 'string' ? comment.body : JSON.stringify(comment.body ?? '')));
  }

  /** Applies the named transition; returns false when the issue offers none of that name, for example because it is already closed. */
  async transition(issueKey: string, name: string): Promise<boolean> {
    const path = `/rest/api/2/issue/${encodeURIComponent(issueKey)}/transitions`;
    const result = (await this.json('GET', path, undefined, `Jira transitions of ${issueKey}`)) as { transitions?: Array<{ id: string; name: string }> };
    const transition = result.transitions?.find((candidate) => candidate.name.toLowerCase() === name.toLowerCase());
    if (!transition) return false;
    await this.json('POST', path, { transition: { id: transition.id } }, `Jira transition of ${issueKey}`);
    return true;
  }

  private async json(method: string, path: string, body: unknown, what: string): Promise<unknown> {
    const response = await request(
      this.fetchImpl,
      `${this.base}${path}`,
      {
        method,
        headers: { authorization: this.authorization, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      },
      what,
      this.now,
    );
    const text = await response.text();
    if (text === '') return {};
    try {
      return JSON.parse(text);
    } catch {
      throw new DeliveryError(`${what} returned a body that is not JSON`, true);
    }
  }
}
