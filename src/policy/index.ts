// Exclusion policy: which image paths a snapshot leaves out, keeps empty or truncates, and why.
export { buildExclusionPolicy, type ExclusionPolicy, type PolicyInput } from './policy.js';
export {
  defaultExcludes,
  SYSTEM_DIRS,
  EXPECTED_SYSTEM_XATTRS,
  type DefaultExcludes,
  type DefaultExtras,
  type PolicyRule,
  type RuleAction,
} from './defaults.js';
export { scrubList, type ScrubRule } from './scrub.js';
export { parseExcludeFile, readExcludeFile, type ExcludeLine } from './exclude-file.js';
export {
  compileMatcher,
  compilePattern,
  exactPath,
  parseExclude,
  ExcludeError,
  type CompiledPattern,
  type ExcludeSyntax,
  type ParsedExclude,
} from './patterns.js';
export { compileGlob, hasGlobMagic } from './glob.js';
export { compileEre } from './ere.js';
export { swapFiles } from './swaps.js';
