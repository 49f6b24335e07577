/** Where and how the resource server asks the issuer whether a token is still active (RFC 7662). */
export interface IntrospectionClient {
  endpoint: string;
  clientId: string;
  clientSecret: string;
  timeoutMs: number;
}

/** The introspection endpoint could not give an answer; the caller fails closed. */
export class IntrospectionUnavailable extends Error {}

/**
 * Asks the introspection endpoint about `token` and returns its `active` verdict. Anything but a
 * 200 with a JSON object holding a boolean `active` throws `IntrospectionUnavailable`.
 */
export async function isTokenActive(client: IntrospectionClient, token: string): Promise<boolean> {
  let response: Response;
  try {
    response = await fetch(client.endpoint, {
      method: 'POST',
      headers: {
        authorization: basicCredentials(client.clientId, client.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      // A redirect would carry the credentials somewhere unexpected; treat it as a failure instead.
      redirect: 'manual',
      signal: AbortSignal.timeout(client.timeoutMs),
    });
  } catch (cause) {
    throw new IntrospectionUnavailable('introspection request failed', { cause });
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new IntrospectionUnavailable(`introspection answered HTTP ${response.status}`);
  }
  let answer: unknown;
  try {
    answer = await response.json();
  } catch (cause) {
    throw new IntrospectionUnavailable('introspection answered something other than JSON', { cause });
  }
  if (typeof answer !== 'object' || answer === null || !('active' in answer) || typeof answer.active !== 'boolean') {
    throw new IntrospectionUnavailable('introspection answer has no boolean active member');
  }
  return answer.active;
}

/** RFC 6749 §2.3.1: client id and secret are each form-urlencoded before being joined and base64-encoded. */
function basicCredentials(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`;
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice('v='.length);
}
