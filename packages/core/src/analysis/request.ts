import { z } from 'zod';

import { digestSchema, parseWith } from '../validation.ts';

/**
 * A request to analyse one image's content, as the push handler queues it and the analysis
 * function reads it. The tenant travels in the message, because the queue serves every tenant.
 */
const analysisRequestSchema = z.object({
  tenant: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'expected a tenant id of lowercase letters, digits, - and _'),
  repository: z.string().min(1).max(256),
  imageDigest: digestSchema,
  /** The AWS account of the registry; the function's own account when omitted. */
  registryId: z.string().regex(/^\d{12}$/, 'expected a 12-digit AWS account id').optional(),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as us-east-1').optional(),
  requestedAt: z.string().optional(),
  requestedBy: z.string().max(256).optional(),
});

export type AnalysisRequest = z.infer<typeof analysisRequestSchema>;

/** Parses a queued analysis request; an invalid one gets an InvalidInputError naming the field. */
export function parseAnalysisRequest(input: unknown): AnalysisRequest {
  return parseWith(analysisRequestSchema, input, 'analysis request');
}

/** Sends an analysis request to wherever analyses run: a queue on AWS, a background task locally. */
export type AnalysisRequester = (request: AnalysisRequest) => Promise<void>;
