// Remastering from an app: the README's remaster example, type-checked by the test suite against the
// package's generated .d.ts files.
import { remaster, AbortError, CasperError, type RemasterProgress } from 'casper-snapshot';

export async function makeIso(chroot: string, baseIso: string, target: string, signal: AbortSignal, show: (line: string) => void): Promise<string[]> {
  const onProgress = (p: RemasterProgress) => {
    if (p.phase === 'capture' && p.capture) show(`capture: ${p.capture.bytesIn} of ${p.capture.bytesTotal} bytes read`);
    else if (p.phase === 'iso') show(`ISO: ${p.isoBytes} of about ${p.isoBytesTotal} bytes written`);
    else show(p.phase);
  };
  try {
    const r = await remaster({ output: target, fromIso: baseIso, source: chroot, label: 'MY_LIVE', compressor: 'zstd', signal, onProgress });
    show(`${r.output}: ${r.isoBytes} bytes; kernel ${r.kernel.verdict}: ${r.kernel.note}`);
    return r.changes.map((c) => `${c.path} ${c.change}: ${c.why}`); // what changed on the medium besides the image
  } catch (err) {
    if (err instanceof AbortError) return []; // xorriso stopped, temporary files removed, an old ISO untouched
    if (err instanceof CasperError) throw new Error(`${err.code} at ${err.path ?? '?'}: ${err.message}`);
    throw err;
  }
}
