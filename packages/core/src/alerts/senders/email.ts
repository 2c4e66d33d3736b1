import { SendEmailCommand, type SESv2Client } from '@aws-sdk/client-sesv2';

import { DeliveryError } from '../retry.ts';
import { deliveryMarker, type Sender } from './types.ts';

/** SES errors that only a change of configuration or account state can fix. */
const PERMANENT_SES_ERRORS = new Set([
  'MessageRejected',
  'MailFromDomainNotVerifiedException',
  'NotFoundException',
  'BadRequestException',
  'AccountSuspendedException',
  'SendingPausedException',
  'AccessDeniedException',
]);

/**
 * Sends the alert through Amazon SES v2 SendEmail. SES has no idempotency token, so exactly-once
 * rests on the delivery record: a SENT delivery is never sent again, and its externalId is the
 * SES message id.
 * NOTE: a worker that crashes after SES accepted the message but before the delivery is recorded
 * sends the email again when the lease expires.
 */
export function emailSender(ses: () => SESv2Client): Sender {
  return async ({ alert, delivery, channel }) => {
    if (channel.kind !== 'EMAIL') throw new DeliveryError(`Channel ${channel.id} is not an email channel`, false);

    try {
      const response = await ses().send(
        new SendEmailCommand({
          FromEmailAddress: channel.email.from,
          Destination: { ToAddresses: channel.email.to },
          Content: {
            Simple: {
              Subject: { Data: alert.subject, Charset: 'UTF-8' },
              Body: { Text: { Data: `${alert.text}\n\n${deliveryMarker(delivery.id)}`, Charset: 'UTF-8' } },
            },
          },
          ...(channel.email.configurationSet ? { ConfigurationSetName: channel.email.configurationSet } : {}),
          EmailTags: [{ Name: 'stratum-delivery', Value: delivery.id }],
        }),
      );
      return { externalId: response.MessageId };
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      const permanent = PERMANENT_SES_ERRORS.has(name);
      throw new DeliveryError(`SES SendEmail failed with ${name}: ${(error as Error).message}`, !permanent, { status: (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode }, { cause: error });
    }
  };
}
