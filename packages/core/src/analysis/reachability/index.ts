import type { ContentInspector } from '../model.ts';
import { elfInspector } from './elf.ts';

/** Content inspectors the reachability analysis needs while layers stream past: the ELF reader. */
export const reachabilityInspectors: ContentInspector[] = [elfInspector];

export { analyzeReachability, type ReachabilityInput } from './analyze.ts';
export { ELF_FACTS, elfInspector, parseElf, type ElfFacts } from './elf.ts';
export { applyRuntimeEvidence } from './runtime.ts';
export { reachabilitySelectors } from './selectors.ts';
export type { StartConfig } from './start.ts';
