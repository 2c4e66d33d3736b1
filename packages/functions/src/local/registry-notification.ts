import { InvalidInputError, isDigest, parseWith } from '@stratum/core';
import { z } from 'zod';

/**
 * The notification envelope the CNCF Distribution registry posts to its webhook endpoints.
 * Every blob upload arrives as a push event too, so callers filter on manifest media types.
 */
const notificationSchema = z.object({
  events: z.array(
    z.object({
      id: z.string(),
      timestamp: z.string().optional(),
      action: z.string(),
      target: z.object({
        mediaType: z.string(),
        // The registry's own documentation shows a 65-character digest, so the digest is checked per event below.
        digest: z.string(),
        repository: z.string().min(1),
        tag: z.string().optional(),
        url: z.string().optional(),
      }),
    }),
  ),
});

export type RegistryNotification = z.infer<typeof notificationSchema>['events'][number];

/** Parses the envelope and rejects a push whose digest is not a valid digest, naming the event. */
export function parseRegistryNotification(body: unknown): RegistryNotification[] {
  const { events } = parseWith(notificationSchema, body, 'registry notification');

  events.forEach((event, index) => {
    if (event.action === 'push' && !isDigest(event.target.digest)) {
      throw new InvalidInputError(`Invalid registry notification at events[${index}].target.digest: expected a digest such as sha256:<64 lowercase hex characters>, found ${JSON.stringify(event.target.digest)}`, {
        path: `events[${index}].target.digest`,
        value: event.target.digest,
      });
    }
  });

  return events;
}
