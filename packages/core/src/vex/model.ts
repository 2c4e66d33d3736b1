/**
 * The normalized VEX model. Every supported format (OpenVEX, CycloneDX VEX, CSAF VEX) is
 * parsed into these types, and matching and application read only these.
 */

export const VEX_STATUSES = ['NOT_AFFECTED', 'AFFECTED', 'FIXED', 'UNDER_INVESTIGATION'] as const;
export type VexStatus = (typeof VEX_STATUSES)[number];

/** The justification labels of OpenVEX and CSAF; CycloneDX's are mapped onto them. */
export const VEX_JUSTIFICATIONS = [
  'component_not_present',
  'vulnerable_code_not_present',
  'vulnerable_code_not_in_execute_path',
  'vulnerable_code_cannot_be_controlled_by_adversary',
  'inline_mitigations_already_exist',
] as const;
export type VexJustification = (typeof VEX_JUSTIFICATIONS)[number];

export const VEX_FORMATS = ['OPENVEX', 'CYCLONEDX', 'CSAF'] as const;
export type VexFormat = (typeof VEX_FORMATS)[number];

/** An identifier of a product or a subcomponent, as the document writes it, with the parts Stratum can match. */
export interface VexIdentifier {
  /** The identifier as written: a purl, a CPE, a bom-ref, an image reference or a product id. */
  id: string;
  purl?: string;
  cpe?: string;
  /** A human-readable name where the document gives one (CSAF full product names). */
  name?: string;
}

export interface VexProduct extends VexIdentifier {
  /** Components of the product the statement is about; empty means the whole product. */
  subcomponents: VexIdentifier[];
}

export interface VexStatement {
  vulnerabilityId: string;
  /** Other ids of the same vulnerability named by the statement (CVE, GHSA, distribution ids). */
  aliases: string[];
  products: VexProduct[];
  status: VexStatus;
  justification?: VexJustification;
  /** The justification as the document wrote it, when it differs from the normalized label (CycloneDX). */
  originalJustification?: string;
  impactStatement?: string;
  actionStatement?: string;
  /** Free text on the status, such as OpenVEX `status_notes` ("waiting for an upstream fix"). */
  statusNotes?: string;
  /** Statement-level timestamp (ISO 8601), when the document gives one. */
  timestamp?: string;
  /** Statement id, when the document gives one (OpenVEX @id). */
  id?: string;
}

export interface ParsedVexDocument {
  format: VexFormat;
  /** The document's own id: OpenVEX @id, CycloneDX serialNumber/version, CSAF tracking id. */
  documentId: string;
  author?: string;
  /** Document timestamp (ISO 8601): last update where the format has one, else issue time. */
  timestamp?: string;
  version?: string;
  statements: VexStatement[];
}
