// The help desk: find a device by id or owner, read its timeline, and
// retrieve its recovery password with a mandatory reason. The password is
// shown once: it is not kept after the technician hides it or leaves.
import { api, devicePath } from './api.js';
import { byId, el, fill, showError, table, timeElement, whileBusy } from './dom.js';
import { startPage } from './layout.js';
import { passwordView } from './password.js';
import { describeState } from './states.js';

const session = startPage('helpdesk.html');
let openDeviceId = null;

async function find(event) {
  event.preventDefault();
  const deviceId = byId('find-device').value.trim();
  const owner = byId('find-owner').value.trim();
  const result = byId('find-result');
  if (!deviceId && !owner) {
    fill(result, el('p', { class: 'error', role: 'alert', text: 'Enter a device id or an owner.' }));
    return;
  }
  if (deviceId) {
    fill(result);
    await openDevice(deviceId);
    return;
  }
  try {
    const reply = await api('GET', '/v1/devices?owner=' + encodeURIComponent(owner));
    if (reply.devices.length === 0) {
      fill(result, el('p', { text: 'No devices belong to ' + owner + '.' }));
      return;
    }
    fill(result, table([
      { title: 'Device', value: (d) => d.device_id },
      { title: 'State', value: (d) => describeState(d.state) },
      { title: '', value: (d) => el('button', { type: 'button', class: 'secondary', text: 'Open',
          'aria-label': 'Open ' + d.device_id, onclick: () => openDevice(d.device_id) }) },
    ], reply.devices));
  } catch (error) {
    showError(result, error, 'Finding the devices of ' + owner);
  }
}

async function openDevice(deviceId) {
  const panel = byId('device-panel');
  openDeviceId = deviceId;
  fill(byId('retrieve-result'));
  byId('retrieve-reason').value = '';
  byId('device-title').textContent = 'Device ' + deviceId;
  panel.hidden = false;
  try {
    const device = await api('GET', devicePath(deviceId));
    fill(byId('device-state'), table([
      { title: 'Owner', value: (d) => d.owner },
      { title: 'State', value: (d) => describeState(d.state) },
      { title: 'Recovery password', value: (d) => d.password_status },
      { title: 'Generation', value: (d) => String(d.generation) },
      { title: 'Retrievals', value: (d) => String(d.retrievals) },
    ], [device]));
    byId('retrieve-form').hidden = false;
    await loadTimeline(deviceId);
  } catch (error) {
    byId('retrieve-form').hidden = true;
    fill(byId('timeline'));
    showError(byId('device-state'), error, 'Opening device ' + deviceId);
  }
  byId('device-title').focus();
}

// Returns a short text for a timeline entry's payload: its scalar fields.
function payloadText(entry) {
  const payload = entry.payload || {};
  return Object.entries(payload)
    .filter(([, value]) => value !== null && value !== '' && typeof value !== 'object')
    .map(([name, value]) => name + ' ' + value)
    .join(', ');
}

async function loadTimeline(deviceId) {
  const reply = await api('GET', devicePath(deviceId, '/timeline'));
  fill(byId('timeline'), table([
    { title: 'Seq', value: (e) => String(e.seq) },
    { title: 'Time', value: (e) => timeElement(e.time) },
    { title: 'Event', value: (e) => e.type },
    { title: 'Actor', value: (e) => e.actor },
    { title: 'Details', value: payloadText, wrap: true },
  ], reply.entries));
}

async function retrieve(event) {
  event.preventDefault();
  const deviceId = openDeviceId;
  const reason = byId('retrieve-reason').value.trim();
  const result = byId('retrieve-result');
  if (!reason) {
    fill(result, el('p', { class: 'error', role: 'alert', text: 'Enter the reason (ticket id) before retrieving.' }));
    return;
  }
  await whileBusy(byId('retrieve-button'), async () => {
    try {
      const reply = await api('POST', devicePath(deviceId, '/recovery-password:retrieve'),
                              { reason, channel: 'console' });
      const hide = el('button', { type: 'button', class: 'secondary', id: 'hide-password', text: 'Hide the password' });
      hide.addEventListener('click', () => fill(result, el('p', { class: 'muted', text: 'The password is hidden. Retrieve it again if needed; that is recorded again.' })));
      fill(result, passwordView(reply.recovery_password, deviceId),
           el('p', { class: 'hint', text: 'Status: ' + reply.status + '. Recorded as audit entry ' + reply.audit_seq + '.' }),
           hide);
      byId('retrieve-reason').value = '';
      await loadTimeline(deviceId);
    } catch (error) {
      showError(result, error, 'Retrieval');
    }
  });
}

if (session) {
  byId('find-form').addEventListener('submit', find);
  byId('retrieve-form').addEventListener('submit', retrieve);
  const requested = new URLSearchParams(location.search).get('device');
  if (requested) {
    byId('find-device').value = requested;
    openDevice(requested);
  }
}
