// Embedding casper-snapshot in an Electron (or any Node) app: the README's example, type-checked by the
// test suite against the package's generated .d.ts files.
import { startSnapshot, detectLiveSystem, buildExclusionPolicy, AbortError, CasperError, type Progress } from 'casper-snapshot';

export async function saveSession(target: string, onProgress: (p: Progress) => void): Promise<number> {
  const layout = detectLiveSystem({ root: '/' });
  // null on a machine that is not a live system: pass mode: 'full' (the whole system) or source: DIR instead
  if (layout.defaultMode === null) throw new Error(`not a live session: ${layout.notes.join('; ')}`);
  const policy = buildExclusionPolicy({ layout, mode: layout.defaultMode });
  console.log(`capturing ${layout.kind} in ${layout.defaultMode} mode\n${policy.describe()}`);
  const job = startSnapshot({ output: target, compressor: 'zstd', compressionLevel: 3 });
  job.on('progress', onProgress);
  const cancel = setTimeout(() => job.abort(), 10 * 60 * 1000);
  try {
    const report = await job.done;
    return report.image.imageSize;
  } catch (err) {
    if (err instanceof AbortError) return 0;
    if (err instanceof CasperError && err.code === 'ELOCKED') throw new Error('another snapshot is writing this image');
    if (err instanceof CasperError) throw new Error(`${err.code} at ${err.path ?? '?'}: ${err.message}`);
    throw err;
  } finally {
    clearTimeout(cancel);
  }
}
