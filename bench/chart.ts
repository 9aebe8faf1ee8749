// An SVG picture of a bench run, next to its markdown: throughput ratios against each peer per compressor (bars,
// 1.0 marked), and thread scaling (speedup per tool against jobs) when the run measured it. Plain SVG written
// here: no plotting dependency.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { levelMatched, type Results } from './report.js';
import { compLabel } from './tools.js';

const COLOURS: Record<string, string> = {
  mksquashfs: '#4e79a7',
  gensquashfs: '#f28e2b',
  'casper-snapshot': '#59a14f',
  'casper-snapshot (executable)': '#b07aa1',
};
const colour = (name: string, i: number) => COLOURS[name] ?? ['#e15759', '#76b7b2', '#edc948'][i % 3];

const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function text(
  x: number,
  y: number,
  t: string,
  o: { size?: number; anchor?: string; rotate?: number; weight?: string } = {},
): string {
  const rot = o.rotate ? ` transform="rotate(${o.rotate} ${x} ${y})"` : '';
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${o.size ?? 12}" text-anchor="${o.anchor ?? 'start'}"${o.weight ? ` font-weight="${o.weight}"` : ''}${rot}>${esc(t)}</text>`;
}

/** A "nice" upper bound for an axis and its tick step. */
function axis(max: number): { top: number; step: number } {
  const raw = Math.max(max, 1e-9) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return { top: Math.ceil(max / step) * step || step, step };
}

interface Panel {
  svg: string;
  height: number;
}

/** Bars: for each group (compressor, corpus, jobs) one bar per peer, the throughput ratio (peer wall / ours). */
function ratioPanel(r: Results, y0: number, width: number): Panel | null {
  const groups = r.groups.filter((g) => g.ratios.some((x) => x.throughput !== null));
  if (!groups.length) return null;
  const peers = [...new Set(groups.flatMap((g) => g.ratios.map((x) => x.peer)))];
  const h = 260;
  const left = 60;
  const plotW = width - left - 20;
  const top = y0 + 40;
  const max = Math.max(1.2, ...groups.flatMap((g) => g.ratios.map((x) => x.throughput ?? 0)));
  const { top: yTop, step } = axis(max);
  const y = (v: number) => top + h - (v / yTop) * h;
  const slot = plotW / groups.length;
  const barW = Math.min(40, (slot * 0.8) / peers.length);
  const parts: string[] = [
    text(width / 2, y0 + 20, 'Throughput ratio per compressor (peer wall / casper-snapshot wall; above 1: faster)', {
      size: 14,
      anchor: 'middle',
      weight: 'bold',
    }),
  ];
  for (let v = 0; v <= yTop + 1e-9; v += step) {
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
      text(left - 6, y(v) + 4, v.toFixed(step < 1 ? 1 : 0), { anchor: 'end', size: 11 }),
    );
  }
  parts.push(
    `<line x1="${left}" x2="${left + plotW}" y1="${y(1).toFixed(1)}" y2="${y(1).toFixed(1)}" stroke="#333" stroke-dasharray="4 3"/>`,
  );
  groups.forEach((g, i) => {
    const cx = left + slot * (i + 0.5);
    peers.forEach((peer, k) => {
      const v = g.ratios.find((x) => x.peer === peer)?.throughput;
      if (v === null || v === undefined) return;
      const x = cx - (peers.length * barW) / 2 + k * barW;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + h - y(v)).toFixed(1)}" fill="${colour(peer, k)}"><title>${esc(`${peer}: ${v.toFixed(3)}×`)}</title></rect>`,
      );
      parts.push(text(x + (barW - 2) / 2, y(v) - 3, v.toFixed(2), { size: 10, anchor: 'middle' }));
    });
    const corpus = g.corpus.split('/').filter(Boolean).slice(-2).join('/') || g.corpus;
    const label = `${compLabel(g.settings)}${levelMatched(g) ? '' : ' (levels differ)'}, ${corpus}, ${g.settings.jobs}j`;
    parts.push(text(cx, top + h + 14, label, { size: 10, anchor: 'end', rotate: -30 }));
  });
  peers.forEach((peer, k) => {
    const x = left + k * 190;
    parts.push(
      `<rect x="${x}" y="${top + h + 95}" width="12" height="12" fill="${colour(peer, k)}"/>`,
      text(x + 16, top + h + 105, `vs ${peer}`, { size: 12 }),
    );
  });
  parts.push(text(16, top + h / 2, 'ratio ×', { rotate: -90, anchor: 'middle', size: 12 }));
  return { svg: parts.join('\n'), height: 40 + h + 120 };
}

/** Lines: speedup (wall at 1 job / wall at N) against jobs, one line per tool, per corpus and compressor. */
function scalingPanel(r: Results, y0: number, width: number): Panel | null {
  const series = r.scaling.filter((s) => s.points.length > 1 && s.points.some((p) => p.speedup !== null));
  if (!series.length) return null;
  const h = 240;
  const left = 60;
  const plotW = width - left - 220;
  const top = y0 + 40;
  const maxJobs = Math.max(...series.flatMap((s) => s.points.map((p) => p.jobs)));
  const maxSpeed = Math.max(maxJobs, ...series.flatMap((s) => s.points.map((p) => p.speedup ?? 0)));
  const ya = axis(maxSpeed);
  const x = (j: number) => left + ((j - 1) / Math.max(1, maxJobs - 1)) * plotW;
  const y = (v: number) => top + h - (v / ya.top) * h;
  const parts: string[] = [
    text(width / 2, y0 + 20, 'Thread scaling (speedup = wall at 1 job / wall at N jobs; dashed: ideal)', {
      size: 14,
      anchor: 'middle',
      weight: 'bold',
    }),
  ];
  for (let v = 0; v <= ya.top + 1e-9; v += ya.step)
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
      text(left - 6, y(v) + 4, v.toFixed(ya.step < 1 ? 1 : 0), { anchor: 'end', size: 11 }),
    );
  const jobs = [...new Set(series.flatMap((s) => s.points.map((p) => p.jobs)))].sort((a, b) => a - b);
  for (const j of jobs) parts.push(text(x(j), top + h + 16, String(j), { anchor: 'middle', size: 11 }));
  parts.push(text(left + plotW / 2, top + h + 34, 'jobs (threads)', { anchor: 'middle', size: 12 }));
  parts.push(
    `<line x1="${x(1)}" y1="${y(1)}" x2="${x(maxJobs)}" y2="${y(maxJobs)}" stroke="#999" stroke-dasharray="4 3"/>`,
  );
  series.forEach((s, i) => {
    const pts = s.points
      .filter((p) => p.speedup !== null)
      .map((p) => `${x(p.jobs).toFixed(1)},${y(p.speedup!).toFixed(1)}`);
    const c = colour(s.tool, i);
    const dash = i % 2 ? ' stroke-dasharray="6 2"' : '';
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${c}" stroke-width="2"${dash}/>`);
    for (const p of pts) parts.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="3" fill="${c}"/>`);
    const corpus = s.corpus.split('/').filter(Boolean).slice(-2).join('/') || s.corpus;
    parts.push(
      `<line x1="${left + plotW + 20}" x2="${left + plotW + 40}" y1="${top + 10 + i * 18}" y2="${top + 10 + i * 18}" stroke="${c}" stroke-width="2"${dash}/>`,
    );
    parts.push(text(left + plotW + 45, top + 14 + i * 18, `${s.tool}, ${s.comp}, ${corpus}`, { size: 11 }));
  });
  return { svg: parts.join('\n'), height: 40 + h + 50 + Math.max(0, series.length * 18 - h) };
}

/** Writes results-<stamp>.svg and latest.svg beside the markdown; null when the run has nothing to draw. */
export function writeChart(dir: string, r: Results): string | null {
  const width = 900;
  const panels: Panel[] = [];
  let y = 0;
  for (const make of [ratioPanel, scalingPanel]) {
    const p = make(r, y, width);
    if (p) {
      panels.push(p);
      y += p.height;
    }
  }
  if (!panels.length) return null;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" viewBox="0 0 ${width} ${y + 10}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...panels.map((p) => p.svg),
    '</svg>',
    '',
  ].join('\n');
  const stamp = r.startedAt.replace(/[:.]/g, '-');
  const file = join(dir, `results-${stamp}.svg`);
  writeFileSync(file, svg);
  writeFileSync(join(dir, 'latest.svg'), svg);
  return file;
}
