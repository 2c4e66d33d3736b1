import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import type { IngestGovernance } from '../ingest/context.ts';
import type { GovernanceDependencies } from './dependencies.ts';
import { checkNewBaseImage } from './new-base-image.ts';
import { recordSlaFindings } from './sla-recording.ts';

/**
 * Connects ingest to the governance workflows: a new scan's findings get their SLA records,
 * and an image built on a base the tenant has not seen before sends NEW_BASE_IMAGE.
 */
export function ingestGovernance(dependencies: GovernanceDependencies): IngestGovernance {
  return {
    observeImage: async (image: Image, findings: readonly Finding[] | undefined) => {
      await checkNewBaseImage(dependencies, image);
      if (findings) await recordSlaFindings(dependencies, image, findings);
    },
  };
}
