// Checks in the browser that the newest checkpoint really contains its last
// ledger entry: the leaf hash is recomputed from the entry's bytes and the
// inclusion proof (RFC 9162, section 2.1.3.2) must lead to the checkpoint's
// root. The checkpoint's signature is not checked here; escrowctl
// verify-checkpoint does that offline.

function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
  return bytes;
}

function bytesToHex(bytes) {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256(...parts) {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
}

// Length of the Ed25519 signature that ends every stored ledger entry.
const kEntrySignatureSize = 64;

// Returns the RFC 9162 leaf hash (hex) of a stored ledger entry given in
// base64: SHA-256(0x00 || signed body), the body being the bytes before the signature.
export async function leafHash(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const body = bytes.subarray(0, Math.max(0, bytes.length - kEntrySignatureSize));
  return bytesToHex(await sha256(new Uint8Array([0]), body));
}

// Returns the root (hex) that an inclusion proof leads to, or null when the
// proof has the wrong length for leafIndex and treeSize.
export async function rootFromInclusionProof(leafIndex, treeSize, leafHashHex, proofHex) {
  let fn = BigInt(leafIndex);
  let sn = BigInt(treeSize) - 1n;
  let r = hexToBytes(leafHashHex);
  const node = new Uint8Array([1]);
  for (const siblingHex of proofHex) {
    if (sn === 0n) return null;
    const sibling = hexToBytes(siblingHex);
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(node, sibling, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await sha256(node, r, sibling);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? bytesToHex(r) : null;
}
