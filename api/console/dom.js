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

// Returns a readable local time for an RFC 3339 string; empty stays empty.
export function formatTime(rfc3339) {
  if (!rfc3339) return '';
  const date = new Date(rfc3339);
  return Number.isNaN(date.getTime()) ? rfc3339 : date.toLocaleString();
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
