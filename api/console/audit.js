// The auditor's page: the ledger's verification status, the audit records
// with filters, CSV and JSON lines export, and a chart of retrievals per day.
import { ApiError, api } from './api.js';
import { byId, el, fill, showError, table, timeElement, whileBusy } from './dom.js';
import { startPage } from './layout.js';
import { countPerDay, retrievalChart } from './chart.js';
import { leafHash, rootFromInclusionProof } from './verify.js';

const session = startPage('audit.html');
let shownRecords = [];

// Returns "2026-12-04T10:00:00Z" for a datetime-local value ("2026-12-04T10:00"
// or with seconds), read as UTC like every time on the page, or "" when empty
// or invalid.
function toRfc3339(utcValue) {
  if (!utcValue) return '';
  const date = new Date(utcValue + 'Z');
  return Number.isNaN(date.getTime()) ? '' : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function auditQuery(format) {
  const query = new URLSearchParams();
  const device = byId('audit-device').value.trim();
  const actor = byId('audit-actor').value.trim();
  const since = toRfc3339(byId('audit-since').value);
  const until = toRfc3339(byId('audit-until').value);
  if (device) query.set('device', device);
  if (actor) query.set('actor', actor);
  if (since) query.set('since', since);
  if (until) query.set('until', until);
  if (byId('audit-denied').checked) query.set('denied', '1');
  if (format) query.set('format', format);
  return '/v1/audit?' + query.toString();
}

async function loadRecords(event) {
  event?.preventDefault();
  await whileBusy(byId('audit-search'), async () => {
    try {
      const reply = await api('GET', auditQuery());
      shownRecords = reply.records;
      renderRecords();
    } catch (error) {
      showError(byId('audit-status'), error, 'Loading the audit records');
    }
  });
}

function renderRecords() {
  fill(byId('audit-status'), el('p', { class: 'muted', id: 'audit-count', text: shownRecords.length + ' records.' }));
  fill(byId('audit-chart'), retrievalChart(countPerDay(shownRecords)));
  const deviceLink = (r) => el('a', { href: 'helpdesk.html?device=' + encodeURIComponent(r.device_id), text: r.device_id });
  fill(byId('audit-records'), table([
    { title: 'Seq', value: (r) => String(r.seq) },
    { title: 'Time', value: (r) => timeElement(r.time) },
    { title: 'Device', value: deviceLink },
    { title: 'Actor', value: (r) => r.actor },
    { title: 'Outcome', value: (r) => (r.denied ? 'denied: ' + r.denial_reason : 'retrieved generation ' + r.generation) },
    { title: 'Channel', value: (r) => r.channel },
    { title: 'Reason', value: (r) => r.reason },
  ], shownRecords));
}

// Saves text as a file through a temporary blob: URL.
function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el('a', { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function exportCsv() {
  try {
    const response = await api('GET', auditQuery('csv'), undefined, { raw: true });
    download('escrow-audit.csv', 'text/csv', await response.text());
  } catch (error) {
    showError(byId('audit-status'), error, 'Exporting CSV');
  }
}

async function exportJsonLines() {
  try {
    const reply = await api('GET', auditQuery());
    const lines = reply.records.map((record) => JSON.stringify(record)).join('\n');
    download('escrow-audit.jsonl', 'application/jsonl', lines + (lines ? '\n' : ''));
  } catch (error) {
    showError(byId('audit-status'), error, 'Exporting JSON lines');
  }
}

// Returns the latest checkpoint, or null before the first one.
async function latestCheckpoint() {
  try {
    return await api('GET', '/v1/checkpoints/latest');
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

// Verifies the checkpoint's last entry against its root; returns a sentence.
async function verifyCheckpoint(checkpoint) {
  const seq = checkpoint.tree_size;
  const entries = await api('GET', '/v1/ledger/entries?from=' + seq + '&to=' + seq);
  const proof = await api('GET', '/v1/proofs/inclusion?seq=' + seq + '&tree_size=' + seq);
  const leaf = await leafHash(entries.entries[0].bytes);
  const root = await rootFromInclusionProof(seq - 1, seq, leaf, proof.proof);
  if (leaf === proof.leaf_hash && root === checkpoint.root) {
    return { ok: true, text: 'Verified through seq ' + seq + ': the entry hashes to its leaf and the inclusion proof leads to the checkpoint root.' };
  }
  return { ok: false, text: 'Verification FAILED at seq ' + seq + ': the entry or the proof does not match the checkpoint root.' };
}

async function loadVerification() {
  const target = byId('verification');
  try {
    const head = await api('GET', '/v1/ledger/head');
    const checkpoint = await latestCheckpoint();
    const rows = [['Ledger entries', String(head.seq)], ['Newest entry', timeElement(head.time)]];
    let verdict = el('p', { class: 'notice warn', id: 'verification-result',
      text: 'No checkpoint yet: escrowd writes the first one at its next checkpoint interval.' });
    if (checkpoint) {
      rows.push(['Last checkpoint', el('span', {}, 'tree size ' + checkpoint.tree_size + ', ', timeElement(checkpoint.time))]);
      rows.push(['Checkpoint root', checkpoint.root]);
      const result = await verifyCheckpoint(checkpoint);
      rows.push(['Last verified seq', result.ok ? String(checkpoint.tree_size) : 'none']);
      verdict = el('p', { class: result.ok ? 'success' : 'error', id: 'verification-result', text: result.text });
    }
    fill(target, table([{ title: 'Item', value: (r) => r[0] }, { title: 'Value', value: (r) => r[1] }], rows), verdict);
  } catch (error) {
    showError(target, error, 'Checking the ledger');
  }
}

// Signs a checkpoint of the committed ledger now, then verifies it.
async function writeCheckpoint() {
  await whileBusy(byId('write-checkpoint'), async () => {
    fill(byId('verification'), el('p', { class: 'muted', text: 'Writing a checkpoint...' }));
    try {
      await api('POST', '/v1/checkpoints');
      await loadVerification();
    } catch (error) {
      showError(byId('verification'), error, 'Writing a checkpoint');
    }
  });
}

if (session) {
  byId('write-checkpoint').addEventListener('click', writeCheckpoint);
  byId('audit-form').addEventListener('submit', loadRecords);
  byId('export-csv').addEventListener('click', exportCsv);
  byId('export-jsonl').addEventListener('click', exportJsonLines);
  const requested = new URLSearchParams(location.search).get('device');
  if (requested) byId('audit-device').value = requested;
  loadVerification();
  loadRecords();
}
