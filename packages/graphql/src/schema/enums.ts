import { BASE_DETECTION_METHODS, LAYER_ORIGINS, REACHABILITY_STATUSES, REPORT_FORMATS, SEVERITIES } from '@stratum/core';

import { builder } from '../builder.ts';

export const SeverityEnum = builder.enumType('Severity', {
  description: 'Severity on one scale across scanners and vendors, most severe first.',
  values: SEVERITIES,
});

export const LayerOriginEnum = builder.enumType('LayerOrigin', {
  description: "BASE: the base image's layers, maintained by its vendor. APPLICATION: the image's own build. UNKNOWN: no evidence either way.",
  values: LAYER_ORIGINS,
});

export const BaseDetectionMethodEnum = builder.enumType('BaseDetectionMethod', {
  description:
    'How the base image boundary was decided: ANNOTATION (OCI base.name/base.digest naming a stored image), LAYER_PREFIX (the first layers equal a stored image), HISTORY (build history heuristics, low confidence).',
  values: BASE_DETECTION_METHODS,
});

export const ConfidenceEnum = builder.enumType('Confidence', { values: ['HIGH', 'MEDIUM', 'LOW'] as const });

export const ReportFormatEnum = builder.enumType('ReportFormat', {
  description: 'Scan report formats Stratum imports.',
  values: REPORT_FORMATS,
});

export const ReachabilityEnum = builder.enumType('ReachabilityStatus', {
  description: 'Whether the vulnerable code can run: REACHABLE, UNREACHABLE (only with evidence) or UNKNOWN, which counts as reachable.',
  values: REACHABILITY_STATUSES,
});
