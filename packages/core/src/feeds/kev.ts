import { z } from 'zod';

import { InvalidInputError } from '../errors.ts';
import { parseWith } from '../validation.ts';
import { CVE_ID_PATTERN } from './epss.ts';

const FORMAT = 'CISA KEV catalog';

const dateSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date such as 2021-12-10');

/**
 * One catalog entry. The fields and which of them are required follow CISA's JSON schema
 * (known_exploited_vulnerabilities_schema.json in cisagov/kev-data). Fields that Stratum does not
 * read, such as `cwes` or the newer `forensicTriage`, are checked loosely or passed over, so a
 * change there does not stop the refresh.
 */
const vulnerabilitySchema = z.object({
  cveID: z.string().regex(CVE_ID_PATTERN, 'expected a CVE id such as CVE-2021-44228'),
  vendorProject: z.string(),
  product: z.string(),
  vulnerabilityName: z.string(),
  dateAdded: dateSchema,
  shortDescription: z.string(),
  requiredAction: z.string(),
  dueDate: dateSchema,
  // The schema types this as a plain string, documented as 'Known' or 'Unknown', and does not require it.
  knownRansomwareCampaignUse: z.string().optional(),
  notes: z.string().optional(),
  cwes: z.array(z.string()).optional(),
});

export const kevCatalogSchema = z.object({
  title: z.string().optional(),
  catalogVersion: z.string().min(1),
  dateReleased: z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'expected a date-time such as 2025-02-25T20:33:53.3676Z'),
  count: z.number().int().nonnegative(),
  vulnerabilities: z.array(vulnerabilitySchema),
});

/** The part of a catalog entry that risk scoring uses. */
export interface KevEntry {
  cve: string;
  dateAdded: string;
  /** Remediation deadline for US federal civilian agencies under BOD 22-01. */
  dueDate: string;
  /** True only when CISA marks the entry 'Known'; 'Unknown' and a missing value are false. */
  knownRansomwareUse: boolean;
}

export interface KevCatalog {
  title?: string;
  catalogVersion: string;
  /** The `dateReleased` timestamp as ISO 8601 in UTC. */
  dateReleased: string;
  entries: KevEntry[];
}

/**
 * Parses the KEV catalog JSON, from text or an already parsed value. An invalid document is an
 * InvalidInputError naming the JSON path, for example `vulnerabilities[3].dueDate`. A `count`
 * that differs from the number of entries, or a CVE listed twice, is an error as well, because
 * either means the download cannot be trusted to replace the stored catalog.
 */
export function parseKevCatalog(input: unknown): KevCatalog {
  let document = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new InvalidInputError(`Invalid ${FORMAT}: not JSON (${(error as Error).message})`, { format: FORMAT }, { cause: error });
    }
  }

  const catalog = parseWith(kevCatalogSchema, document, FORMAT);
  if (catalog.count !== catalog.vulnerabilities.length) {
    throw new InvalidInputError(
      `Invalid ${FORMAT} document at count: count is ${catalog.count} but vulnerabilities has ${catalog.vulnerabilities.length} entries`,
      { format: FORMAT, path: 'count', value: catalog.count },
    );
  }

  const seen = new Set<string>();
  const entries = catalog.vulnerabilities.map((vulnerability, index): KevEntry => {
    if (seen.has(vulnerability.cveID)) {
      throw new InvalidInputError(`Invalid ${FORMAT} document at vulnerabilities[${index}].cveID: ${vulnerability.cveID} is listed twice`, {
        format: FORMAT,
        path: `vulnerabilities[${index}].cveID`,
        value: vulnerability.cveID,
      });
    }
    seen.add(vulnerability.cveID);
    return {
      cve: vulnerability.cveID,
      dateAdded: vulnerability.dateAdded,
      dueDate: vulnerability.dueDate,
      knownRansomwareUse: vulnerability.knownRansomwareCampaignUse === 'Known',
    };
  });

  return {
    title: catalog.title,
    catalogVersion: catalog.catalogVersion,
    dateReleased: new Date(Date.parse(catalog.dateReleased)).toISOString(),
    entries,
  };
}
