// A bar chart of retrievals per UTC day, drawn as plain SVG, with a text
// legend and axis labels. Denied retrievals are stacked on top of the
// granted ones in another colour, and the legend names both series in words.
import { el } from './dom.js';

const kSvg = 'http://www.w3.org/2000/svg';
const kWidth = 600;
const kHeight = 230;
const kMargin = { top: 30, right: 10, bottom: 50, left: 40 };
const kMaxDays = 60;  // the newest days shown; older ones are left out
const kMaxBarWidth = 40;
const kMaxDayLabels = 14;  // day labels under the axis; console.css hides every other one on phones
const kLegendId = 'retrieval-chart-legend';

function svgNode(tag, attributes = {}, text) {
  const node = document.createElementNS(kSvg, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// Returns [{day: "2026-12-04", granted, denied}] sorted by day. The day is
// the date part of the API's RFC 3339 time, which is in UTC.
export function countPerDay(records) {
  const days = new Map();
  for (const record of records) {
    const day = String(record.time || '').slice(0, 10);
    if (!day) continue;
    const count = days.get(day) || { day, granted: 0, denied: 0 };
    if (record.denied) count.denied += 1; else count.granted += 1;
    days.set(day, count);
  }
  return [...days.values()].sort((a, b) => a.day.localeCompare(b.day)).slice(-kMaxDays);
}

function plural(count, word) {
  return count + ' ' + word + (count === 1 ? '' : 's');
}

// Returns one bar, or null for a zero count. A bar is an image with its own
// accessible name (screen readers) and a <title> (mouse tooltip).
function bar(className, x, y, width, height, label) {
  if (height <= 0) return null;
  const node = svgNode('rect', { class: className, x, y, width, height, role: 'img', 'aria-label': label });
  node.append(svgNode('title', {}, label));
  return node;
}

// Returns the axis line, the count scale and both axis labels.
function axes(max, plotHeight) {
  const base = kMargin.top + plotHeight;
  return [
    svgNode('text', { class: 'axis-label', x: 0, y: 14 }, 'Retrievals per day'),
    svgNode('text', { x: kMargin.left - 6, y: kMargin.top + 10, 'text-anchor': 'end' }, String(max)),
    svgNode('text', { x: kMargin.left - 6, y: base, 'text-anchor': 'end' }, '0'),
    svgNode('line', { x1: kMargin.left, x2: kWidth - kMargin.right, y1: base, y2: base, stroke: '#57606a' }),
    svgNode('text', { class: 'axis-label', x: kMargin.left + (kWidth - kMargin.left - kMargin.right) / 2,
                      y: kHeight - 6, 'text-anchor': 'middle' }, 'Day (UTC, month-day)'),
  ];
}

// Returns the legend: both series named in text next to a colour sample.
function legend() {
  const item = (swatchClass, text) => el('li', {},
    el('span', { class: 'swatch ' + swatchClass, 'aria-hidden': 'true' }), text);
  return el('ul', { class: 'legend', id: kLegendId },
    item('granted', 'Blue bars: retrievals (the recovery password was shown)'),
    item('denied', 'Red bars, stacked on top: denied retrievals'));
}

// Returns a <figure> with the chart of countPerDay's counts and its legend.
export function retrievalChart(counts) {
  const plotWidth = kWidth - kMargin.left - kMargin.right;
  const plotHeight = kHeight - kMargin.top - kMargin.bottom;
  const base = kMargin.top + plotHeight;
  const max = Math.max(1, ...counts.map((c) => c.granted + c.denied));
  const slot = plotWidth / Math.max(1, counts.length);
  const barWidth = Math.min(kMaxBarWidth, Math.max(2, slot * 0.7));
  const labelStep = Math.ceil(counts.length / kMaxDayLabels);

  const svg = svgNode('svg', { class: 'chart', viewBox: `0 0 ${kWidth} ${kHeight}`, role: 'group',
                               'aria-label': counts.length ? 'Retrievals per UTC day' : 'Retrievals per UTC day: none',
                               'aria-describedby': kLegendId });
  svg.append(...axes(max, plotHeight));

  counts.forEach((count, index) => {
    const x = kMargin.left + index * slot + (slot - barWidth) / 2;
    const grantedHeight = (count.granted / max) * plotHeight;
    const deniedHeight = (count.denied / max) * plotHeight;
    const granted = bar('bar', x, base - grantedHeight, barWidth, grantedHeight,
                        count.day + ' (UTC): ' + plural(count.granted, 'retrieval'));
    const denied = bar('bar denied', x, base - grantedHeight - deniedHeight, barWidth, deniedHeight,
                       count.day + ' (UTC): ' + plural(count.denied, 'denied retrieval'));
    for (const node of [granted, denied]) if (node) svg.append(node);
    if (index % labelStep === 0) {
      const minor = (index / labelStep) % 2 === 1 ? ' minor' : '';
      svg.append(svgNode('text', { class: 'day' + minor, x: x + barWidth / 2, y: base + 18, 'text-anchor': 'middle' },
                         count.day.slice(5)));
    }
  });
  return el('figure', { class: 'chart' }, svg, legend());
}
