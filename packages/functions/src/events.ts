import { digestSchema, parseWith } from '@stratum/core';
import { z } from 'zod';

/** Fields every EventBridge event carries. */
const envelope = {
  version: z.string().optional(),
  id: z.string().min(1),
  account: z.string().regex(/^\d{12}$/, 'expected a 12-digit AWS account id'),
  region: z.string().min(1),
  time: z.string().min(1),
  resources: z.array(z.string()).optional(),
};

/** ECR names repositories by name; Inspector2 events sometimes give the repository ARN instead. */
const repositoryName = z
  .string()
  .min(1)
  .transform((value) => value.match(/^arn:aws[a-z-]*:ecr:[^:]*:\d{12}:repository\/(.+)$/)?.[1] ?? value);

export const imageActionEventSchema = z.object({
  ...envelope,
  source: z.literal('aws.ecr'),
  'detail-type': z.literal('ECR Image Action'),
  detail: z.object({
    result: z.string(),
    'action-type': z.string(),
    'repository-name': repositoryName,
    'image-digest': digestSchema,
    'image-tag': z.string().optional(),
  }),
});
export type ImageActionEvent = z.infer<typeof imageActionEventSchema>;

export const ecrScanEventSchema = z.object({
  ...envelope,
  source: z.literal('aws.ecr'),
  'detail-type': z.literal('ECR Image Scan'),
  detail: z.object({
    'scan-status': z.string(),
    'repository-name': repositoryName,
    'image-digest': digestSchema,
    'image-tags': z.array(z.string()).optional(),
  }),
});

export const inspectorScanEventSchema = z.object({
  ...envelope,
  source: z.literal('aws.inspector2'),
  'detail-type': z.literal('Inspector2 Scan'),
  detail: z.object({
    'scan-status': z.string(),
    'repository-name': repositoryName,
    'image-digest': digestSchema,
    'image-tags': z.array(z.string()).optional(),
  }),
});

export type ScanEvent = z.infer<typeof ecrScanEventSchema> | z.infer<typeof inspectorScanEventSchema>;

export function parseImageActionEvent(event: unknown): ImageActionEvent {
  return parseWith(imageActionEventSchema, event, 'ECR Image Action event');
}

/** Parses either kind of scan-completed event, choosing the schema by the event's detail-type. */
export function parseScanEvent(event: unknown): ScanEvent {
  const detailType = (event as { 'detail-type'?: unknown } | null)?.['detail-type'];
  if (detailType === 'Inspector2 Scan') return parseWith(inspectorScanEventSchema, event, 'Inspector2 Scan event');
  return parseWith(ecrScanEventSchema, event, 'ECR Image Scan event');
}

/** The event id for logs, read without validation so that even a rejected event can be traced. */
export function eventIdOf(event: unknown): string | undefined {
  const id = (event as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : undefined;
}
