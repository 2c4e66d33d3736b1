// Layer reading for content analysis: time against only decompressing and walking the same layers,
// and peak memory in a child process. Run by run.ts, or on its own:
//   npx tsx test/bench/analysis.ts                      the timing table
//   npx tsx test/bench/analysis.ts memory <mode> <dir>  one memory sample (used by the timing run)
// STRATUM_BENCH_ANALYSIS_MB sets the image size in MiB (default 200); 1024 gives the 1 GB run.
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';

import { Decompress } from 'fzstd';
import tar from 'tar-stream';

import { analyzeImage } from '../../packages/core/src/analysis/analyze-image.ts';
import { systemClock } from '../../packages/core/src/clock.ts';
import { silentLogger } from '../../packages/core/src/logger.ts';
import { buildOciLayout, type BuiltImage } from '../support/oci-image.ts';
import { collectGarbage, median, timed } from './harness.ts';

/** Wall time and CPU time (user and system, all threads, so zlib's worker threads count) of one call. */
async function timedWithCpu<T>(work: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const cpuBefore = process.cpuUsage();
  const { ms: elapsed, value } = await timed(work);
  const cpu = process.cpuUsage(cpuBefore);
  return { ms: elapsed, cpuMs: (cpu.user + cpu.system) / 1000, value };
}
import { mib, ms, printTable, ratio } from './table.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MIB = 1024 * 1024;
const IMAGE_MIB = Number(process.env.STRATUM_BENCH_ANALYSIS_MB ?? 200);
const RATIO_TARGET = 1.5;
const MEMORY_TARGET_BYTES = 512 * MIB;

/** Builds an image of real trees: host libraries (gzip), host shared data (zstd), this repository's node_modules (gzip) and Python's standard library (uncompressed). */
async function buildBenchImage(dir: string, totalBytes: number): Promise<BuiltImage> {
  return buildOciLayout(dir, {
    tag: 'bench',
    config: { Entrypoint: ['/usr/bin/node', '/app/index.js'] },
    layers: [
      { compression: 'gzip', entries: [{ type: 'tree', from: '/usr/lib/x86_64-linux-gnu', to: '/usr/lib/x86_64-linux-gnu', maxBytes: 0.4 * totalBytes }] },
      { compression: 'zstd', entries: [{ type: 'tree', from: '/usr/share', to: '/usr/share', maxBytes: 0.25 * totalBytes }] },
      { compression: 'gzip', entries: [{ type: 'tree', from: join(ROOT, 'node_modules'), to: '/app/node_modules', maxBytes: 0.3 * totalBytes }] },
      { compression: 'none', entries: [{ type: 'tree', from: '/usr/lib/python3.11', to: '/usr/lib/python3.11', maxBytes: 0.05 * totalBytes }] },
    ],
  });
}

/** Feeds zstd to fzstd in the chunks the file stream delivers. */
async function* zstdChunks(file: string): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const decoder = new Decompress((chunk) => out.push(chunk));
  for await (const chunk of createReadStream(file)) {
    decoder.push(chunk as Buffer);
    yield* out.splice(0);
  }
  decoder.push(new Uint8Array(0), true);
  yield* out.splice(0);
}

/** Decompresses every layer with the same libraries and walks every tar entry, with no digests, limits or tree. */
export async function walkLayers(image: BuiltImage): Promise<number> {
  let entries = 0;

  for (const layer of image.layers) {
    const file = join(image.dir, 'blobs', 'sha256', layer.digest.slice('sha256:'.length));
    const extract = tar.extract();
    const source: AsyncIterable<Uint8Array> = layer.mediaType.endsWith('+zstd')
      ? zstdChunks(file)
      : layer.mediaType.endsWith('+gzip')
        ? createReadStream(file).pipe(createGunzip())
        : createReadStream(file);

    const feeding = (async () => {
      for await (const chunk of source) {
        if (!extract.write(chunk as Buffer)) await new Promise<void>((resolve) => extract.once('drain', () => resolve()));
      }
      extract.end(undefined);
    })();
    for await (const entry of extract) {
      entries++;
      for await (const _chunk of entry);
    }
    await feeding;
  }
  return entries;
}

/** Runs the whole analysis as the push flow does: layers with every inspector and selector, package databases, reachability. */
async function readWithAnalysis(image: BuiltImage): Promise<number> {
  const analysis = await analyzeImage({ kind: 'oci-layout', path: image.dir }, { clock: systemClock, logger: silentLogger });
  return analysis.layers.reduce((sum, layer) => sum + layer.entries, 0);
}

export interface LayerMemorySample {
  mode: 'analysis' | 'baseline';
  ms: number;
  entries: number;
  /** process.resourceUsage().maxRSS, converted from KiB to bytes. */
  maxRss: number;
}

/** Samples peak RSS in a fresh process, since this process keeps the memory of earlier runs. */
function memorySample(mode: LayerMemorySample['mode'], dir: string): LayerMemorySample {
  const script = fileURLToPath(import.meta.url);
  const output = execFileSync(process.execPath, ['--import', 'tsx', script, 'memory', mode, dir], { cwd: ROOT, encoding: 'utf8', maxBuffer: 16 * MIB });
  return JSON.parse(output.trim().split('\n').at(-1)!) as LayerMemorySample;
}

export interface LayerReadingResult {
  imageBytes: number;
  compressedBytes: number;
  entries: number;
  layers: number;
  analysisMs: number[];
  baselineMs: number[];
  analysisCpuMs: number[];
  baselineCpuMs: number[];
  memory: { analysis: LayerMemorySample; baseline: LayerMemorySample };
}

/** Builds the bench image, times both reads `runs` times after one warm-up, and samples memory. */
export async function measureLayerReading(runs: number, imageBytes = IMAGE_MIB * MIB): Promise<LayerReadingResult> {
  const workDir = await mkdtemp(join(tmpdir(), 'stratum-bench-layers-'));

  try {
    const image = await buildBenchImage(join(workDir, 'image'), imageBytes);
    const analysisMs: number[] = [];
    const baselineMs: number[] = [];
    const analysisCpuMs: number[] = [];
    const baselineCpuMs: number[] = [];
    let entries = 0;

    for (let run = 0; run <= runs; run++) {
      // Whichever read runs second pays for the garbage the first left behind (V8 sets its next
      // collection limit from the heap it just saw), so the order alternates between runs.
      const analysisFirst = run % 2 === 1;
      collectGarbage();
      const first = analysisFirst ? await timedWithCpu(() => readWithAnalysis(image)) : await timedWithCpu(() => walkLayers(image));
      collectGarbage();
      const second = analysisFirst ? await timedWithCpu(() => walkLayers(image)) : await timedWithCpu(() => readWithAnalysis(image));
      const [baseline, analysis] = analysisFirst ? [second, first] : [first, second];
      if (analysis.value !== baseline.value) throw new Error(`The analysis read ${analysis.value} entries but the baseline ${baseline.value}`);

      entries = baseline.value;
      if (run === 0) continue;
      baselineMs.push(baseline.ms);
      analysisMs.push(analysis.ms);
      baselineCpuMs.push(baseline.cpuMs);
      analysisCpuMs.push(analysis.cpuMs);
    }

    return {
      imageBytes: image.layers.reduce((sum, layer) => sum + layer.tarSize, 0),
      compressedBytes: image.layers.reduce((sum, layer) => sum + layer.size, 0),
      entries,
      layers: image.layers.length,
      analysisMs,
      baselineMs,
      analysisCpuMs,
      baselineCpuMs,
      memory: { analysis: memorySample('analysis', image.dir), baseline: memorySample('baseline', image.dir) },
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

export function printLayerReading(result: LayerReadingResult): void {
  const ratios = result.analysisMs.map((value, i) => value / result.baselineMs[i]!);
  const cpuRatios = result.analysisCpuMs.map((value, i) => value / result.baselineCpuMs[i]!);

  console.log('');
  console.log(
    `Layer reading: ${result.layers} layers (gzip, zstd, gzip, none), ${mib(result.imageBytes)} uncompressed, ${mib(result.compressedBytes)} stored, ${result.entries} entries, median of ${result.analysisMs.length} runs`,
  );
  console.log('CPU time is user plus system time of the whole process, zlib worker threads included; it varies less than wall time when other processes compete for the cores.');
  printTable([
    ['case', 'time', 'vs baseline', 'range', 'CPU time', 'CPU vs baseline', 'peak RSS (child)'],
    [
      'Stratum: analyzeImage (layers, every inspector and selector, packages, reachability)',
      ms(median(result.analysisMs)),
      ratio(median(ratios)),
      `${ratio(Math.min(...ratios))}-${ratio(Math.max(...ratios))}`,
      ms(median(result.analysisCpuMs)),
      ratio(median(cpuRatios)),
      mib(result.memory.analysis.maxRss),
    ],
    ['baseline: decompress and walk every tar entry', ms(median(result.baselineMs)), ratio(1), '', ms(median(result.baselineCpuMs)), ratio(1), mib(result.memory.baseline.maxRss)],
  ]);
  console.log(`analysis ratio ${ratio(median(ratios))} (target ≤ ${RATIO_TARGET}x): ${median(ratios) <= RATIO_TARGET ? 'met' : 'MISSED'}`);
  console.log(
    `analysis peak RSS ${mib(result.memory.analysis.maxRss)} for ${mib(result.imageBytes)} (target under ${mib(MEMORY_TARGET_BYTES)} for a 1 GB image; STRATUM_BENCH_ANALYSIS_MB=1024 runs that size): ${result.memory.analysis.maxRss < MEMORY_TARGET_BYTES ? 'met' : 'MISSED'}`,
  );
}

/** Reads the single image of an OCI layout back into the builder's shape; the walk needs no sizes or diff_ids. */
export async function layoutImage(dir: string): Promise<BuiltImage> {
  const blob = async (digest: string) => JSON.parse(await readFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), 'utf8'));
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifestDigest = index.manifests[0]!.digest;
  const manifest = (await blob(manifestDigest)) as { config: { digest: string }; layers: Array<{ digest: string; mediaType: string; size: number }> };
  const layers = manifest.layers.map((layer) => ({ ...layer, diffId: '', tarSize: 0 }));
  return { dir, manifestDigest, imageId: manifest.config.digest, layers };
}

async function sampleMemory(mode: string, dir: string): Promise<LayerMemorySample> {
  const image = await layoutImage(dir);
  if (mode !== 'analysis' && mode !== 'baseline') throw new Error(`Invalid mode ${JSON.stringify(mode)}: expected analysis or baseline`);

  const { ms: elapsed, value } = await timed(() => (mode === 'analysis' ? readWithAnalysis(image) : walkLayers(image)));
  return { mode, ms: elapsed, entries: value, maxRss: process.resourceUsage().maxRSS * 1024 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, mode = '', dir = ''] = process.argv.slice(2);
  if (command === 'memory') console.log(JSON.stringify(await sampleMemory(mode, dir)));
  else printLayerReading(await measureLayerReading(Number(process.env.STRATUM_BENCH_RUNS ?? 3)));
}
