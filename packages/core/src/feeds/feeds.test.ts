import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { InvalidInputError } from '../errors.ts';
import { parseEpssCsv, parseEpssCsvGzip, type EpssScore } from './epss.ts';
import { parseKevCatalog } from './kev.ts';

const fixtures = new URL('../../../../test/fixtures/feeds/', import.meta.url);
const EPSS_1 = readFileSync(new URL('epss_scores-2026-12-03.csv.gz', fixtures));
const EPSS_2 = readFileSync(new URL('epss_scores-2026-12-04.csv.gz', fixtures));
const KEV_1 = readFileSync(new URL('known_exploited_vulnerabilities-2026.12.03.json', fixtures), 'utf8');

const HEADER = '#model_version:v2025.03.14,score_date:2026-12-03T12:55:00Z\ncve,epss,percentile\n';

function collect(text: string) {
  const scores: EpssScore[] = [];
  const info = parseEpssCsv(text, (score) => scores.push(score));
  return { info, scores };
}

async function collectGzip(source: Uint8Array | AsyncIterable<Uint8Array>, maxDecompressedBytes?: number) {
  const scores = new Map<string, EpssScore>();
  const info = await parseEpssCsvGzip(source, (score) => scores.set(score.cve, score), { maxDecompressedBytes });
  return { info, scores };
}

function parseError(run: () => unknown): InvalidInputError {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidInputError) return error;
    throw error;
  }
  throw new Error('expected an InvalidInputError');
}

describe('EPSS snapshot', () => {
  it('counts every row', async () => {
    const { info } = await collectGzip(EPSS_1);
    expect(info.rowCount).toBe(21104);
  });

  it('reads the model version', async () => {
    const { info } = await collectGzip(EPSS_1);
    expect(info.modelVersion).toBe('v2025.03.14');
  });

  it('reads the score date', async () => {
    const { info } = await collectGzip(EPSS_1);
    expect(info.scoreDate).toBe('2026-12-03T12:55:00.000Z');
  });

  it('reads a +0000 score date', async () => {
    const { info } = await collectGzip(EPSS_2);
    expect(info.scoreDate).toBe('2026-12-04T00:00:00.000Z');
  });

  it.each([
    ['CVE-2021-44228', 0.94358, 0.9936],
    ['CVE-2019-18276', 0.00371, 0.53322],
    ['CVE-1999-0003', 0.0034, 0.5272],
    ['CVE-2024-11001', 0.11301, 0.78431],
  ])('scores %s exactly', async (cve, score, percentile) => {
    const { scores } = await collectGzip(EPSS_1);
    expect(scores.get(cve)).toEqual({ cve, score, percentile });
  });

  it('gives every row once', async () => {
    const { info, scores } = await collectGzip(EPSS_1);
    expect(scores.size).toBe(info.rowCount);
  });

  it('parses a stream of small chunks', async () => {
    async function* chunks() {
      for (let start = 0; start < EPSS_1.length; start += 997) yield EPSS_1.subarray(start, start + 997);
    }
    const { info } = await collectGzip(chunks());
    expect(info.rowCount).toBe(21104);
  });

  it('parses the same rows uncompressed', () => {
    const { info } = collect(gunzipSync(EPSS_1).toString('utf8'));
    expect(info.rowCount).toBe(21104);
  });
});

describe('EPSS CSV', () => {
  it('accepts CRLF line endings', () => {
    const { scores } = collect(HEADER.replaceAll('\n', '\r\n') + 'CVE-2021-44228,0.94358,0.99957\r\n');
    expect(scores).toEqual([{ cve: 'CVE-2021-44228', score: 0.94358, percentile: 0.99957 }]);
  });

  it('accepts a file without the comment line', () => {
    const { info } = collect('cve,epss,percentile\nCVE-2021-44228,0.94358,0.99957\n');
    expect(info).toEqual({ modelVersion: undefined, scoreDate: undefined, rowCount: 1 });
  });

  it('accepts the two-column header', () => {
    const { scores } = collect('cve,epss\nCVE-2021-44228,0.5\n');
    expect(scores).toEqual([{ cve: 'CVE-2021-44228', score: 0.5 }]);
  });

  it('accepts scientific notation', () => {
    const { scores } = collect(`${HEADER}CVE-2023-0286,4e-05,0.01\n`);
    expect(scores[0]!.score).toBe(0.00004);
  });

  it('accepts a byte order mark', () => {
    const { info } = collect(`\uFEFF${HEADER}CVE-2023-0286,0.1,0.2\n`);
    expect(info.modelVersion).toBe('v2025.03.14');
  });

  it('accepts a header with no rows', () => {
    const { info } = collect(HEADER);
    expect(info.rowCount).toBe(0);
  });

  it('accepts a missing final newline', () => {
    const { info } = collect(`${HEADER}CVE-2023-0286,0.1,0.2`);
    expect(info.rowCount).toBe(1);
  });

  it.each([
    ['bad CVE id', `${HEADER}CVE-21-44228,0.1,0.2\n`, 'line 3: "CVE-21-44228" is not a CVE id', 'CVE-21-44228'],
    ['lowercase CVE id', `${HEADER}cve-2021-44228,0.1,0.2\n`, 'line 3: "cve-2021-44228" is not a CVE id', 'cve-2021-44228'],
    ['score above 1', `${HEADER}CVE-2021-44228,1.5,0.2\n`, 'line 3: epss "1.5" is not a number from 0 to 1', '1.5'],
    ['negative percentile', `${HEADER}CVE-2021-44228,0.1,-0.2\n`, 'line 3: percentile "-0.2" is not a number from 0 to 1', '-0.2'],
    ['text score', `${HEADER}CVE-2021-44228,high,0.2\n`, 'line 3: epss "high" is not a number', 'high'],
    ['empty score', `${HEADER}CVE-2021-44228,,0.2\n`, 'line 3: epss "" is not a number', ''],
    ['hex score', `${HEADER}CVE-2021-44228,0x1,0.2\n`, 'line 3: epss "0x1" is not a number', '0x1'],
    ['NaN percentile', `${HEADER}CVE-2021-44228,0.1,NaN\n`, 'line 3: percentile "NaN" is not a number', 'NaN'],
    ['extra column', `${HEADER}CVE-2021-44228,0.1,0.2,0.3\n`, 'line 3: expected 3 comma-separated values, found 4', 'CVE-2021-44228,0.1,0.2,0.3'],
    ['missing column', `${HEADER}CVE-2021-44228,0.1\n`, 'line 3: expected 3 comma-separated values, found 2', 'CVE-2021-44228,0.1'],
    ['row after valid rows', `${HEADER}CVE-2021-44228,0.1,0.2\nCVE-2023-0286,0.1,0.2\nCVE-2023-0287,2,0.2\n`, 'line 5: epss "2"', '2'],
    ['comment after the header', `${HEADER}#note\n`, 'line 3: expected 3 comma-separated values, found 1', '#note'],
    ['wrong header', '#model_version:v1\ncve,score,percentile\n', 'line 2: expected the header "cve,epss,percentile", found "cve,score,percentile"', 'cve,score,percentile'],
    ['bad score date', '#model_version:v1,score_date:yesterday\ncve,epss,percentile\n', 'line 1: score_date "yesterday" is not a date', 'yesterday'],
  ])('rejects %s', (_name, text, message, value) => {
    const error = parseError(() => collect(text));
    expect(error.message).toContain(message);
    expect(error.details.value).toBe(value);
  });

  it('names the line in the error path', () => {
    const error = parseError(() => collect(`${HEADER}CVE-2021-44228,7,0.2\n`));
    expect(error.details.path).toBe('line 3');
  });

  it('rejects a missing header', () => {
    const error = parseError(() => collect('#model_version:v2025.03.14\n'));
    expect(error.message).toBe('Invalid EPSS CSV: the header line "cve,epss,percentile" is missing');
  });

  it('rejects an empty file', () => {
    const error = parseError(() => collect(''));
    expect(error.message).toContain('header line "cve,epss,percentile" is missing');
  });

  it('rejects an overlong line', () => {
    const error = parseError(() => collect(`${HEADER}${'9'.repeat(5000)}\n`));
    expect(error.message).toContain('line 3: the line is longer than 4096 characters');
  });
});

describe('EPSS gzip', () => {
  it('rejects truncated gzip data', async () => {
    await expect(collectGzip(EPSS_1.subarray(0, EPSS_1.length - 100))).rejects.toThrow(/gzip data is corrupt or truncated/);
  });

  it('rejects data that is not gzip', async () => {
    await expect(collectGzip(Buffer.from(HEADER))).rejects.toThrow(InvalidInputError);
  });

  it('stops past the decompressed limit', async () => {
    await expect(collectGzip(EPSS_1, 100_000)).rejects.toThrow('the decompressed file exceeds 100000 bytes');
  });

  it('reports the line of a bad row', async () => {
    const bytes = gzipSync(`${HEADER}CVE-2021-44228,0.1,0.2\nCVE-2023-0286,0.1,1.01\n`);
    await expect(collectGzip(bytes)).rejects.toThrow('Invalid EPSS CSV at line 4: percentile "1.01" is not a number from 0 to 1');
  });

  it('handles an overlong line across chunks', async () => {
    const bytes = gzipSync(`${HEADER}${'9'.repeat(100_000)}\n`);
    await expect(collectGzip(bytes)).rejects.toThrow('line 3: the line is longer than 4096 characters');
  });

  it('parses 300,000 rows quickly', async () => {
    const rows: string[] = [];
    for (let i = 0; i < 300_000; i++) rows.push(`CVE-${1999 + (i % 28)}-${String(10000 + i).padStart(6, '0')},0.${String(i % 99991).padStart(5, '0')},0.${String(i % 99989).padStart(5, '0')}`);
    const bytes = gzipSync(`${HEADER}${rows.join('\n')}\n`);

    const started = performance.now();
    let count = 0;
    const info = await parseEpssCsvGzip(bytes, () => {
      count++;
    });
    const elapsed = performance.now() - started;

    expect(info.rowCount).toBe(300_000);
    expect(count).toBe(300_000);
    // A bound far above the measured time, so only quadratic behaviour or a per-row leak fails it.
    expect(elapsed).toBeLessThan(5_000);
  });
});

describe('KEV catalog', () => {
  const catalog = () => JSON.parse(KEV_1) as { count: number; vulnerabilities: Array<Record<string, unknown>> } & Record<string, unknown>;

  it('counts every entry', () => {
    expect(parseKevCatalog(KEV_1).entries).toHaveLength(220);
  });

  it('reads the catalog version', () => {
    expect(parseKevCatalog(KEV_1).catalogVersion).toBe('2026.12.03');
  });

  it('normalizes the release time', () => {
    expect(parseKevCatalog(KEV_1).dateReleased).toBe('2026-12-03T16:02:11.887Z');
  });

  it('reads Log4Shell exactly', () => {
    const entry = parseKevCatalog(KEV_1).entries.find((candidate) => candidate.cve === 'CVE-2021-44228');
    expect(entry).toEqual({ cve: 'CVE-2021-44228', dateAdded: '2021-12-10', dueDate: '2021-12-24', knownRansomwareUse: true });
  });

  it('maps Unknown ransomware use to false', () => {
    const entry = parseKevCatalog(KEV_1).entries.find((candidate) => candidate.cve === 'CVE-2021-45046');
    expect(entry?.knownRansomwareUse).toBe(false);
  });

  it('accepts bytes', () => {
    expect(parseKevCatalog(Buffer.from(KEV_1)).entries).toHaveLength(220);
  });

  it('accepts unknown extra fields', () => {
    const document = catalog();
    document.vulnerabilities[0]!.forensicTriage = 'No';
    expect(parseKevCatalog(document).entries).toHaveLength(220);
  });

  it('accepts a missing ransomware field', () => {
    const document = catalog();
    delete document.vulnerabilities[0]!.knownRansomwareCampaignUse;
    expect(parseKevCatalog(document).entries[0]!.knownRansomwareUse).toBe(false);
  });

  type Edit = (document: ReturnType<typeof catalog>) => void;
  it.each<[string, Edit, string]>([
    ['missing cveID', (d) => delete d.vulnerabilities[3]!.cveID, 'vulnerabilities[3].cveID'],
    ['bad cveID', (d) => (d.vulnerabilities[4]!.cveID = 'CVE-2021-1'), 'vulnerabilities[4].cveID'],
    ['bad dateAdded', (d) => (d.vulnerabilities[0]!.dateAdded = '12/10/2021'), 'vulnerabilities[0].dateAdded'],
    ['missing dueDate', (d) => delete d.vulnerabilities[7]!.dueDate, 'vulnerabilities[7].dueDate'],
    ['numeric product', (d) => (d.vulnerabilities[2]!.product = 42), 'vulnerabilities[2].product'],
    ['missing catalogVersion', (d) => delete d.catalogVersion, 'catalogVersion'],
    ['bad dateReleased', (d) => (d.dateReleased = 'today'), 'dateReleased'],
    ['fractional count', (d) => (d.count = 1.5), 'count'],
    ['wrong count', (d) => (d.count = 219), 'count'],
    ['vulnerabilities not an array', (d) => (d.vulnerabilities = {} as never), 'vulnerabilities'],
    ['duplicate CVE', (d) => (d.vulnerabilities[9]!.cveID = 'CVE-2021-44228'), 'vulnerabilities[9].cveID'],
  ])('rejects %s', (_name, edit, path) => {
    const document = catalog();
    edit(document);
    const error = parseError(() => parseKevCatalog(document));
    expect(error.details.path).toBe(path);
    expect(error.message).toContain(`Invalid CISA KEV catalog document at ${path}:`);
  });

  it('rejects text that is not JSON', () => {
    const error = parseError(() => parseKevCatalog(KEV_1.slice(0, 5000)));
    expect(error.message).toMatch(/^Invalid CISA KEV catalog: not JSON/);
  });
});
