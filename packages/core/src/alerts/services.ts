import { join } from 'node:path';

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SSMClient } from '@aws-sdk/client-ssm';

import type { Clock } from '../clock.ts';
import type { ChannelKind } from './channel.ts';
import { localKeyFile, SecretBox, SecretResolver, secretsManagerKey, SecretUnavailableError, type SecretKeyProvider } from './secrets.ts';
import { emailSender } from './senders/email.ts';
import type { FetchFunction } from './senders/http.ts';
import { jiraSender } from './senders/jira.ts';
import type { Sender } from './senders/types.ts';
import { webhookSender } from './senders/webhook.ts';
import { privateWebhooksAllowed } from './webhook-address.ts';
import { addressCheckedFetch } from './senders/checked-fetch.ts';

/** The pieces that sending and storing secrets need, shared by the GraphQL API, the Lambda consumer and the local runner. */
export interface AlertServices {
  box: SecretBox;
  secrets: SecretResolver;
  senders: Record<ChannelKind, Sender>;
}

export interface AlertServicesOptions {
  clock: Clock;
  keyProvider: SecretKeyProvider;
  secretsManager?: () => SecretsManagerClient;
  ssm?: () => SSMClient;
  ses?: () => SESv2Client;
  /** Replaces fetch for Jira and webhooks. By default webhooks get addressCheckedFetch, which rejects internal addresses. */
  fetch?: FetchFunction;
}

function lazy<T>(create: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= create());
}

export function createAlertServices(options: AlertServicesOptions): AlertServices {
  const box = new SecretBox(options.keyProvider);
  const secretsManager = options.secretsManager ?? lazy(() => new SecretsManagerClient({}));
  const ssm = options.ssm ?? lazy(() => new SSMClient({}));
  const ses = options.ses ?? lazy(() => new SESv2Client({}));
  const fetchImpl = options.fetch ?? fetch;
  // The setting is read on every request, so a server started with it changed applies the new value.
  const webhookFetch = options.fetch ?? addressCheckedFetch(() => privateWebhooksAllowed());

  return {
    box,
    secrets: new SecretResolver({ box, secretsManager, ssm, clock: options.clock }),
    senders: { EMAIL: emailSender(ses), JIRA: jiraSender(fetchImpl), WEBHOOK: webhookSender(webhookFetch) },
  };
}

/**
 * Chooses the key that encrypts inline secrets. On AWS it is the Secrets Manager secret named by
 * STRATUM_ALERT_KEY_SECRET, which the Alerts stack creates. Elsewhere it is the key file
 * `alert-secrets.key` in STRATUM_DATA_DIR (`.stratum` unless set), created with mode 0600.
 */
export function keyProviderFromEnvironment(env: NodeJS.ProcessEnv = process.env): SecretKeyProvider {
  const secretName = env.STRATUM_ALERT_KEY_SECRET;
  if (secretName) return secretsManagerKey(secretName, new SecretsManagerClient({}));

  // A key file on Lambda would live only as long as the execution environment, and every secret encrypted with it would be lost.
  if (env.AWS_LAMBDA_FUNCTION_NAME) {
    const failure = new SecretUnavailableError('STRATUM_ALERT_KEY_SECRET is not set on this function; give it the Alerts stack grantDispatch(fn, { channels: true })', false);
    return { key: () => Promise.reject(failure) };
  }
  return localKeyFile(join(env.STRATUM_DATA_DIR ?? '.stratum'));
}
