/**
 * Decodes HTTP Basic client credentials. RFC 6749 §2.3.1 has the client id and secret
 * form-urlencoded before they are joined with ":" and base64-encoded, so both are decoded again.
 */
export function parseBasicCredentials(header: string): { clientId: string; clientSecret: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/=._~-]+) *$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  try {
    const clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    const clientSecret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
    // No client id or secret holds a NUL; refusing it here keeps it away from the store.
    if (clientSecret === '' || clientId.includes('\0') || clientSecret.includes('\0')) return undefined;
    return { clientId, clientSecret };
  } catch {
    return undefined;
  }
}
