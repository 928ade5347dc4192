// DOM helpers. All text reaches the page through textContent or text nodes,
// never through innerHTML, so a device id or reason with markup stays text.

// Creates an element. attributes may hold "class", "text" (textContent),
// "on*" listeners and plain attributes; children are nodes or strings.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') {
      node.textContent = String(value);
    } else if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error('the page has no element #' + id);
  return node;
}

// Replaces the children of node.
export function fill(node, ...children) {
  node.replaceChildren(...children.filter((child) => child !== undefined && child !== null));
}

// Shows an error (an ApiError or Error) in node, with the server's message.
export function showError(node, error, action) {
  const prefix = action ? action + ' failed: ' : '';
  fill(node, el('p', { class: 'error', role: 'alert', text: prefix + error.message }));
}

// Builds a table. columns: [{title, value(row) -> string|Node, wrap}]; a
// column with wrap set may break long words such as hashes anywhere.
export function table(columns, rows, caption) {
  const head = el('tr', {}, ...columns.map((column) => el('th', { scope: 'col', text: column.title })));
  const body = rows.map((row) => el('tr', {}, ...columns.map((column) => {
    const value = column.value(row);
    const cell = el('td', { class: column.wrap ? 'wrap' : undefined });
    if (value instanceof Node) cell.append(value); else cell.textContent = value ?? '';
    return cell;
  })));
  return el('table', {}, caption ? el('caption', { class: 'muted', text: caption }) : null,
            el('thead', {}, head), el('tbody', {}, ...body));
}

// Matches an RFC 3339 time in UTC as the API writes it: "2026-12-05T01:02:03Z"
// or with a fraction of up to nine digits, "2026-12-05T01:02:03.123456789Z".
const kUtcTimePattern = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,9})?Z$/;

// Formats an RFC 3339 time as "2026-12-05 01:02:03 UTC", the one time format
// of every console page. The fraction of a second is dropped, not rounded, so
// the date and time are the API's own digits. A time with another offset is
// converted to UTC. Text that is not a time is returned unchanged, and empty
// stays empty.
export function formatTime(rfc3339) {
  if (!rfc3339) return '';
  const utc = kUtcTimePattern.exec(rfc3339);
  if (utc) return utc[1] + ' ' + utc[2] + ' UTC';
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return rfc3339;
  const iso = date.toISOString();  // always UTC: "2026-12-05T01:02:03.000Z"
  return iso.slice(0, 10) + ' ' + iso.slice(11, 19) + ' UTC';
}

// Creates a <time> element for table cells: the text of formatTime, and the
// API's full value in the datetime attribute and the tooltip. The date and
// the clock time are separate spans, so a narrow cell breaks the line only
// between them.
export function timeElement(rfc3339) {
  if (!rfc3339) return '';
  const text = formatTime(rfc3339);
  const split = text.indexOf(' ');
  if (split < 0) return text;  // not a time: formatTime returned the text unchanged
  return el('time', { class: 'utc', datetime: rfc3339, title: rfc3339 },
            el('span', { text: text.slice(0, split) }), ' ', el('span', { text: text.slice(split + 1) }));
}

// Runs task while button is disabled, so a double click sends one request.
export async function whileBusy(button, task) {
  button.disabled = true;
  try {
    return await task();
  } finally {
    button.disabled = false;
  }
}
