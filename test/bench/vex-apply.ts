import { performance } from 'node:perf_hooks';

import { applyVex, parseVexDocument, sha256, VexIndex, type Finding, type Image, type StoredStatement } from '@stratum/core';

const STATEMENTS = 10_000;
const FINDINGS = 2_000;
const DOCUMENTS = 5;
const SUBCOMPONENTS = 12;

export interface VexApplyResult {
  statements: number;
  findings: number;
  decided: number;
  parseMs: number;
  applyMs: number;
}

const packageName = (i: number) => `lib-${i % 700}`;
const cve = (i: number) => `CVE-2099-${String(i).padStart(5, '0')}`;

/** Five OpenVEX documents of 2,000 statements each, shaped like a hardened-image vendor's: the image product with package subcomponents. */
function documentsText(): string[] {
  const texts: string[] = [];
  const perDocument = STATEMENTS / DOCUMENTS;

  for (let d = 0; d < DOCUMENTS; d++) {
    const statements = [];
    for (let s = 0; s < perDocument; s++) {
      const i = d * perDocument + s;
      const subcomponents = Array.from({ length: SUBCOMPONENTS }, (_, k) => ({ '@id': `pkg:deb/debian/${packageName(i + k)}` }));
      statements.push({
        vulnerability: { name: cve(i) },
        timestamp: '2026-11-01T00:00:00Z',
        products: [
          { '@id': 'pkg:docker/dhi/nginx', subcomponents },
          { '@id': 'pkg:oci/dhi%2Fnginx', subcomponents },
        ],
        status: i % 10 === 0 ? 'under_investigation' : 'not_affected',
        ...(i % 10 === 0 ? {} : { justification: 'vulnerable_code_not_in_execute_path' }),
      });
    }
    texts.push(JSON.stringify({ '@context': 'https://openvex.dev/ns/v0.2.0', '@id': `https://vendor.example/vex/${d}`, author: 'Vendor', timestamp: '2026-11-01T00:00:00Z', version: 1, statements }));
  }

  return texts;
}

function imageAndFindings(): { image: Image; findings: Finding[] } {
  const image: Image = {
    key: sha256('bench-app'),
    digest: sha256('bench-app'),
    repository: 'registry.example.com/shop/web',
    tags: ['1.0.0'],
    layers: [
      { index: 0, origin: 'BASE' },
      { index: 1, origin: 'APPLICATION' },
    ],
    labels: {},
    annotations: {},
    baseImage: { name: 'dhi/nginx:1.29', hardened: true, method: 'LAYER_PREFIX', confidence: 'HIGH', layerCount: 1, evidence: 'bench' },
    createdAt: '2026-11-01T00:00:00Z',
    updatedAt: '2026-11-01T00:00:00Z',
  };

  // Every other finding has a vulnerability the documents mention; a quarter sit in the application layer.
  const findings: Finding[] = Array.from({ length: FINDINGS }, (_, i) => {
    const layerIndex = i % 4 === 0 ? 1 : 0;
    const statementIndex = i % 2 === 0 ? i * 4 : STATEMENTS + i;
    return {
      id: `f${i}`,
      imageKey: image.key,
      scanId: 'bench',
      vulnerabilityId: cve(statementIndex),
      aliases: [],
      severity: 'HIGH',
      package: { name: packageName(statementIndex), version: '1.0-1', type: 'deb', purl: `pkg:deb/debian/${packageName(statementIndex)}@1.0-1?arch=amd64` },
      layerIndex,
      origin: layerIndex === 0 ? 'BASE' : 'APPLICATION',
    };
  });

  return { image, findings };
}

/**
 * Measures applying 10,000 statements to an image with 2,000 findings (building the index and
 * evaluating every finding), against parsing the same documents from JSON text.
 */
export function measureVexApply(): VexApplyResult {
  const texts = documentsText();
  const { image, findings } = imageAndFindings();

  const parseStart = performance.now();
  const documents = texts.map((text) => parseVexDocument(JSON.parse(text)));
  const parseMs = performance.now() - parseStart;

  const statements: StoredStatement[] = documents.flatMap((document, d) =>
    document.statements.map((statement, index) => ({
      ...statement,
      documentKey: `doc${d}`,
      documentId: document.documentId,
      documentTimestamp: document.timestamp,
      author: document.author,
      source: 'VENDOR' as const,
      importedAt: '2026-11-02T00:00:00Z',
      index,
    })),
  );

  const applyStart = performance.now();
  const decided = applyVex(new VexIndex(statements), image, findings).filter((finding) => finding.vex).length;
  const applyMs = performance.now() - applyStart;

  return { statements: statements.length, findings: findings.length, decided, parseMs, applyMs };
}
