// The library's errors name the option that would let a job through (CasperError.remedy); the CLI says it in
// its own spelling.
import { CasperError, type Remedy } from '../errors.js';

function cliRemedy(r: Remedy): string {
  switch (r.option) {
    case 'force':
      return 'use --force, or -noappend, to replace it';
    case 'noSpaceCheck':
      return 'use --no-space-check to try anyway';
    case 'mode':
      return `use --mode ${r.value}`;
    case 'source':
      return 'or use --source DIR for a plain directory';
    case 'root':
      return 'use --root for a live root mounted elsewhere';
    case 'sourceOrFullMode':
      return (
        `to capture a directory as it is: casper-snapshot --source ${r.root === '/' ? 'DIR' : r.root} OUTPUT; ` +
        `to capture this whole system (with the default excludes): casper-snapshot${r.root === '/' ? '' : ` --root ${r.root}`} --mode full OUTPUT`
      );
  }
}

/** Library option names in a message, as the CLI spells them. */
const SPELLING: [RegExp, string][] = [
  [/^source captures a plain directory; mode applies/, '--source captures a plain directory; --mode applies'],
];

/** The error's message as the CLI prints it. */
export function cliMessage(e: Pick<CasperError, 'message' | 'reason' | 'remedy'>): string {
  let text = e.remedy && e.reason !== undefined ? `${e.reason}; ${cliRemedy(e.remedy)}` : e.message;
  for (const [re, s] of SPELLING) text = text.replace(re, s);
  return text;
}

/**
 * An error the tool anticipates and explains (errno codes, locks, mounts, images): no stack trace under -d. A bug
 * (EINTERNAL, or EINTERNAL_ORDER: native code called out of turn) is not one.
 */
export function expectedFailure(err: unknown): boolean {
  const code = (err as CasperError).code;
  return (
    err instanceof CasperError &&
    typeof code === 'string' &&
    /^(E[A-Z0-9_]+|ABORT_ERR)$/.test(code) &&
    !code.startsWith('EINTERNAL')
  );
}
