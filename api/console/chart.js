// A bar chart of retrievals per UTC day, drawn as plain SVG. Denied
// retrievals are stacked on top of the granted ones in another colour.
const kSvg = 'http://www.w3.org/2000/svg';
const kWidth = 600;
const kHeight = 200;
const kMargin = { top: 10, right: 10, bottom: 30, left: 36 };
const kMaxDays = 60;  // the newest days shown; older ones are left out
const kMaxBarWidth = 40;

function svgNode(tag, attributes = {}, text) {
  const node = document.createElementNS(kSvg, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// Returns [{day: "2026-12-04", granted, denied}] sorted by day.
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

// Returns an <svg> element for the counts of countPerDay.
export function retrievalChart(counts) {
  const plotWidth = kWidth - kMargin.left - kMargin.right;
  const plotHeight = kHeight - kMargin.top - kMargin.bottom;
  const max = Math.max(1, ...counts.map((c) => c.granted + c.denied));
  const slot = plotWidth / Math.max(1, counts.length);
  const barWidth = Math.min(kMaxBarWidth, Math.max(2, slot * 0.7));
  const summary = counts.map((c) => c.day + ': ' + c.granted + ' retrieved, ' + c.denied + ' denied').join('; ');

  const svg = svgNode('svg', { class: 'chart', viewBox: `0 0 ${kWidth} ${kHeight}`, role: 'img',
                               'aria-label': 'Retrievals per day. ' + (summary || 'No retrievals.') });
  svg.append(svgNode('title', {}, 'Retrievals per day'));
  svg.append(svgNode('text', { x: 0, y: kMargin.top + 10 }, String(max)));
  svg.append(svgNode('text', { x: 0, y: kMargin.top + plotHeight }, '0'));
  svg.append(svgNode('line', { x1: kMargin.left, x2: kWidth - kMargin.right,
                               y1: kMargin.top + plotHeight, y2: kMargin.top + plotHeight, stroke: '#57606a' }));

  counts.forEach((count, index) => {
    const x = kMargin.left + index * slot + (slot - barWidth) / 2;
    const grantedHeight = (count.granted / max) * plotHeight;
    const deniedHeight = (count.denied / max) * plotHeight;
    const base = kMargin.top + plotHeight;
    const granted = svgNode('rect', { class: 'bar', x, y: base - grantedHeight, width: barWidth, height: grantedHeight });
    granted.append(svgNode('title', {}, count.day + ': ' + count.granted + ' retrieved'));
    const denied = svgNode('rect', { class: 'bar denied', x, y: base - grantedHeight - deniedHeight, width: barWidth, height: deniedHeight });
    denied.append(svgNode('title', {}, count.day + ': ' + count.denied + ' denied'));
    svg.append(granted, denied);
    if (counts.length <= 14 || index % Math.ceil(counts.length / 14) === 0) {
      svg.append(svgNode('text', { x: x + barWidth / 2, y: kHeight - 8, 'text-anchor': 'middle' }, count.day.slice(5)));
    }
  });
  return svg;
}
