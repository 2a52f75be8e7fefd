import { describe, expect, test } from '@jest/globals';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegistryClient } from '../../actions/core/src/registry.js';
import { startTokenRegistry, type TokenRegistry } from '../helpers/token-registry.js';

/**
 * Identity tokens (Docker's `identitytoken`, OAuth2 refresh tokens): the token stand-in takes
 * POST /token with grant_type=refresh_token and answers an access_token for the scope.
 */
function oauthRegistry(refreshToken: string): Promise<TokenRegistry> {
  return startTokenRegistry({
    grant: ({ method, params }) =>
      method === 'POST' &&
      params.get('grant_type') === 'refresh_token' &&
      params.get('refresh_token') === refreshToken
        ? `at-${params.get('scope')}`
        : undefined,
    accepted: 'at-repository:team/app:pull,push',
  });
}

describe('identity tokens', () => {
  test('traded at the realm by an OAuth2 refresh_token POST, then used as the bearer', async () => {
    const registry = await oauthRegistry('refresh-42');
    const client = new RegistryClient({
      address: registry.address,
      insecure: true,
      identityToken: 'refresh-42',
    });
    try {
      await client.ping('team/app');
      expect(registry.seen).toEqual(['GET /v2/ ', 'POST /token ', 'GET /v2/ Bearer']);
      expect(Object.fromEntries(registry.tokenRequests[0] ?? [])).toEqual({
        grant_type: 'refresh_token',
        refresh_token: 'refresh-42',
        client_id: 'arch-core',
        service: 'test',
        scope: 'repository:team/app:pull,push',
      });
    } finally {
      client.close();
      registry.close();
    }
  });

  test('a refused identity token fails at once, saying where it came from', async () => {
    const registry = await oauthRegistry('the-right-one');
    const client = new RegistryClient({
      address: registry.address,
      insecure: true,
      identityToken: 'stale',
      credentialsFrom: '/home/u/.docker/config.json auths "r"',
    });
    try {
      await expect(client.ping('team/app')).rejects.toThrow(
        /token service .* refused the credentials of an identity token \(from \/home\/u\/\.docker\/config\.json auths "r"\) \(HTTP 401\)/,
      );
    } finally {
      client.close();
      registry.close();
    }
  });

  test('a Basic challenge cannot take an identity token, and the error says so', async () => {
    const server = http.createServer((_request, response) => {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="r"' });
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = new RegistryClient({
      address: `127.0.0.1:${port}`,
      insecure: true,
      identityToken: 'tok',
    });
    try {
      await expect(client.ping('team/app')).rejects.toThrow(
        'asks for an authentication an identity token cannot answer: "Basic realm="r""',
      );
    } finally {
      client.close();
      server.close();
    }
  });
});
