import { z } from 'zod';

import { InvalidInputError } from '../errors.ts';
import { formatPath, valueAt } from '../validation.ts';
import { SEVERITIES, type Severity } from '../severity.ts';
import { isPrivateAddress, privateAddressMessage, privateWebhooksAllowed } from './webhook-address.ts';

export const CHANNEL_KINDS = ['EMAIL', 'JIRA', 'WEBHOOK'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

export const JIRA_DEPLOYMENTS = ['CLOUD', 'DATA_CENTER'] as const;
export type JiraDeployment = (typeof JIRA_DEPLOYMENTS)[number];

/**
 * A channel secret as stored: an inline value encrypted with AES-256-GCM (see secrets.ts), or a
 * reference to Secrets Manager or SSM that is resolved at delivery time.
 */
export type StoredSecret =
  | { source: 'INLINE'; ciphertext: string }
  | { source: 'SECRETS_MANAGER'; secretId: string; jsonKey?: string }
  | { source: 'SSM'; parameterName: string };

export const SECRET_SOURCES = ['INLINE', 'SECRETS_MANAGER', 'SSM'] as const;
export type SecretSource = (typeof SECRET_SOURCES)[number];

export interface EmailConfig {
  from: string;
  to: string[];
  configurationSet?: string;
}

export interface JiraConfig {
  deployment: JiraDeployment;
  baseUrl: string;
  projectKey: string;
  issueType: string;
  /** Jira Cloud authenticates with the user's email and an API token; Data Center with a personal access token alone. */
  userEmail?: string;
  /** Jira priority names by Stratum severity, read from the alert's `details.severity` or `details.finding.severity`. */
  priorityBySeverity?: Partial<Record<Severity, string>>;
  /** Labels added to every issue, next to the deduplication label. */
  labels: string[];
  /** Jira field id (such as `customfield_10042` or `components`) to the dot path of an alert detail. */
  fieldMapping: Record<string, string>;
  /** The transition applied when the violation closes, such as `Done`; without it closing only adds a comment. */
  closeTransition?: string;
}

export interface WebhookConfig {
  url: string;
}

/** The health counters kept on a channel; every attempt updates them. */
export interface ChannelHealthRecord {
  consecutiveFailures: number;
  /** When the current run of failures started. */
  failingSince?: string;
  lastError?: string;
  lastFailureAt?: string;
  /** The last failure was a rejection that retrying cannot fix, such as a 401. */
  lastFailurePermanent?: boolean;
  lastSuccessAt?: string;
}

interface ChannelBase {
  id: string;
  name: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  health: ChannelHealthRecord;
}

export type AlertChannel =
  | (ChannelBase & { kind: 'EMAIL'; email: EmailConfig })
  | (ChannelBase & { kind: 'JIRA'; jira: JiraConfig; secret: StoredSecret })
  | (ChannelBase & { kind: 'WEBHOOK'; webhook: WebhookConfig; secret: StoredSecret });

/** Consecutive retryable failures after which a channel is reported as failing. */
export const FAILING_THRESHOLD = 3;

export type ChannelHealthState = 'HEALTHY' | 'FAILING';

/**
 * Computes the health shown in the API: failing after a permanent rejection or FAILING_THRESHOLD
 * failures in a row. The last error and its time are shown only while the latest attempt failed,
 * so a channel that has recovered shows no error it no longer has.
 */
export function channelHealth(record: ChannelHealthRecord): { state: ChannelHealthState; failing: boolean; since?: string; lastError?: string; lastErrorAt?: string; consecutiveFailures: number } {
  const failing = record.consecutiveFailures > 0 && (record.lastFailurePermanent === true || record.consecutiveFailures >= FAILING_THRESHOLD);
  const lastFailed = record.consecutiveFailures > 0;
  return {
    state: failing ? 'FAILING' : 'HEALTHY',
    failing,
    since: failing ? record.failingSince : undefined,
    lastError: lastFailed ? record.lastError : undefined,
    lastErrorAt: lastFailed ? record.lastFailureAt : undefined,
    consecutiveFailures: record.consecutiveFailures,
  };
}

// ---- input validation ------------------------------------------------------------------

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost']);

/** HTTPS everywhere; plain HTTP only to 127.0.0.1 and localhost, for local receivers and tests. */
const endpointUrl = z.string().trim().max(2048).superRefine((value, context) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    context.addIssue({ code: 'custom', message: 'expected an absolute URL such as https://example.com/hook' });
    return;
  }
  const local = LOCAL_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    context.addIssue({ code: 'custom', message: 'expected an https:// URL (http:// is allowed only for 127.0.0.1 and localhost)' });
  }
  if (url.username || url.password) context.addIssue({ code: 'custom', message: 'expected a URL without user name or password; give credentials as the secret' });
});

const email = z.string().trim().max(320).regex(/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/, 'expected an email address such as alerts@example.com');

/** A secret as the API accepts it: exactly one of an inline value, a Secrets Manager id or an SSM parameter name. */
export const secretInputSchema = z
  .object({
    value: z
      .string()
      .min(16, 'expected a secret of at least 16 characters')
      .max(4096)
      .regex(/^[^\u0000-\u001f\u007f]+$/, 'expected a secret without control characters such as line breaks')
      .optional(),
    secretsManagerId: z
      .string()
      .trim()
      .regex(/^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+|[\w/+=.@-]{1,512})$/, 'expected a Secrets Manager ARN or secret name')
      .optional(),
    secretsManagerJsonKey: z.string().trim().min(1).max(256).optional(),
    ssmParameter: z.string().trim().regex(/^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter)?\/?[\w.\-/]{1,1011}$/, 'expected an SSM parameter name such as /stratum/jira-token').optional(),
  })
  .refine((secret) => [secret.value, secret.secretsManagerId, secret.ssmParameter].filter((part) => part !== undefined).length === 1, {
    message: 'expected exactly one of value, secretsManagerId or ssmParameter',
  });
export type SecretInput = z.infer<typeof secretInputSchema>;

export const emailConfigSchema = z.object({
  from: email,
  to: z.array(email).min(1, 'expected at least one recipient').max(50),
  configurationSet: z.string().trim().regex(/^[\w-]{1,64}$/, 'expected an SES configuration set name').optional(),
});

const jiraFieldId = z.string().regex(/^(customfield_\d+|[a-z][A-Za-z]{1,40})$/, 'expected a Jira field id such as customfield_10042 or components');
const detailPath = z.string().regex(/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/, 'expected a dot path into the alert details such as finding.packageName');

export const jiraConfigSchema = z
  .object({
    deployment: z.enum(JIRA_DEPLOYMENTS).default('CLOUD'),
    baseUrl: endpointUrl,
    projectKey: z.string().trim().regex(/^[A-Z][A-Z0-9_]{1,9}$/, 'expected a Jira project key such as SEC'),
    issueType: z.string().trim().min(1).max(100),
    userEmail: email.optional(),
    priorityBySeverity: z.partialRecord(z.enum(SEVERITIES), z.string().trim().min(1).max(100)).optional(),
    labels: z.array(z.string().regex(/^[^\s]{1,255}$/, 'expected a label without spaces')).max(20).default([]),
    fieldMapping: z.record(jiraFieldId, detailPath).default({}),
    closeTransition: z.string().trim().min(1).max(100).optional(),
  })
  .refine((config) => config.deployment !== 'CLOUD' || config.userEmail !== undefined, {
    message: 'expected userEmail: Jira Cloud authenticates with the user email and an API token',
    path: ['userEmail'],
  });

/**
 * A webhook URL whose host, when it is an IP address, must be public unless the setting allows
 * internal receivers. Host names are checked after DNS resolution, when a delivery is sent.
 */
const webhookUrl = endpointUrl.superRefine((value, context) => {
  const host = URL.canParse(value) ? new URL(value).hostname : undefined;
  const bare = host?.replace(/^\[|\]$/g, '');
  if (host && bare && !privateWebhooksAllowed() && isPrivateAddress(bare)) context.addIssue({ code: 'custom', message: privateAddressMessage(host, bare) });
});

export const webhookConfigSchema = z.object({ url: webhookUrl });

const channelName = z.string().trim().min(1, 'expected a name').max(100);

export const channelInputSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('EMAIL'), name: channelName, enabled: z.boolean().default(true), email: emailConfigSchema }),
  z.object({ kind: z.literal('JIRA'), name: channelName, enabled: z.boolean().default(true), jira: jiraConfigSchema, secret: secretInputSchema }),
  z.object({ kind: z.literal('WEBHOOK'), name: channelName, enabled: z.boolean().default(true), webhook: webhookConfigSchema, secret: secretInputSchema }),
]);
export type ChannelInput = z.infer<typeof channelInputSchema>;

/** A change to a channel: a config block replaces the current one; an omitted secret keeps the stored one. */
export const channelUpdateSchema = z.object({
  name: channelName.optional(),
  enabled: z.boolean().optional(),
  email: emailConfigSchema.optional(),
  jira: jiraConfigSchema.optional(),
  webhook: webhookConfigSchema.optional(),
  secret: secretInputSchema.optional(),
});
export type ChannelUpdate = z.infer<typeof channelUpdateSchema>;

/**
 * Parses channel input like parseWith, except that a value under `secret` is never quoted in the
 * error, so a mistyped token does not end up in a response or a log line.
 */
export function parseChannelInput<T extends z.ZodType>(schema: T, input: unknown, field: string): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;

  const issue = result.error.issues[0]!;
  const path = `${field}.${formatPath(issue.path)}`;
  const secret = issue.path[0] === 'secret';
  throw new InvalidInputError(`Invalid ${path}: ${issue.message}`, secret ? { path } : { path, value: valueAt(input, issue.path) });
}
