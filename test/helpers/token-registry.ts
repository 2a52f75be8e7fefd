import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A registry stand-in with token authentication, written from the distribution spec's token flow
 * (docker-registry's own token auth needs a JWT signing set-up the tests cannot get from Debian's
 * package): every /v2/ request without the bearer token answers 401 with a Bearer challenge whose
 * realm is this server's /token; /token hands out a token when `grant` accepts the request.
 */
export interface TokenRequest {
  method: string;
  /** The query (GET) or the form (POST). */
  params: URLSearchParams;
  authorization: string;
}

export interface TokenRegistry {
  address: string;
  /** `METHOD PATH[?QUERY] SCHEME` of every request, in order. */
  seen: string[];
  /** The parameters of every /token request. */
  tokenRequests: URLSearchParams[];
  close: () => void;
}

export async function startTokenRegistry(options: {
  /** The token for a request to /token, or undefined to refuse it (401). */
  grant: (request: TokenRequest) => string | undefined;
  /** The one token the registry accepts. */
  accepted: string;
  /** Show the query of requests in `seen` (default false). */
  withQuery?: boolean;
}): Promise<TokenRegistry> {
  const seen: string[] = [];
  const tokenRequests: URLSearchParams[] = [];
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const authorization = request.headers.authorization ?? '';
    const where = options.withQuery ? `${url.pathname}${url.search}` : url.pathname;
    seen.push(`${request.method} ${where} ${authorization.split(' ')[0] ?? ''}`);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (url.pathname === '/token') {
        const params =
          request.method === 'POST'
            ? new URLSearchParams(Buffer.concat(chunks).toString())
            : url.searchParams;
        tokenRequests.push(params);
        const token = options.grant({ method: request.method ?? '', params, authorization });
        response.writeHead(token ? 200 : 401, { 'content-type': 'application/json' });
        response.end(token ? JSON.stringify({ token, access_token: token }) : '{}');
        return;
      }
      if (authorization !== `Bearer ${options.accepted}`) {
        const { port } = server.address() as AddressInfo;
        response.writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="test"`,
        });
        response.end();
        return;
      }
      response.writeHead(url.pathname.includes('/blobs/') ? 404 : 200);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { address: `127.0.0.1:${port}`, seen, tokenRequests, close: () => server.close() };
}
