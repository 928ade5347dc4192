// Device lifecycle states (the "state" field of GET /v1/devices/{id}) as people read them.
const kStateText = {
  registered: 'no password yet (the device has not enrolled)',
  enrolled: 'no password yet',
  pending: 'not yet active on the device',
  active: 'active',
  used: 'used and waiting for a new one',
  retired: 'retired',
};

export function describeState(state) {
  return kStateText[state] || state;
}
