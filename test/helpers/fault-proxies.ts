import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';

/**
 * Fault injection for the deploy tests, between the action and the real parts: an HTTP proxy in
 * front of the fleet stand-in's socket that answers chosen requests with an error instead of
 * passing them on, and a TCP proxy in front of sshd whose connections a test can cut (what a
 * reset connection does to the action's SSH connection) or black-hole (a path gone silent).
 */

/** A request as the fleet proxy sees it: method, path (with the query) and when it came. */
export interface ProxiedRequest {
  method: string;
  url: string;
  at: number;
}

/** An error answer to give in place of fleet's, shaped as fleet shapes its errors. */
export interface FleetFault {
  status: number;
  message: string;
}

export interface FleetFaultProxy {
  socketPath: string;
  /** Every request, with the status the action got (a fault's or fleet's). */
  seen: Array<ProxiedRequest & { status: number }>;
  close(): Promise<void>;
}

/**
 * Listens on `socketPath` (mode 0660, group `gid`, as fleet's socket) and passes each request
 * on to the stand-in at `target`, unless `fault` returns a fault for it. `onRequest` is told of
 * each request first (e.g. to cut the SSH connection while it is under way).
 */
export async function startFleetFaultProxy(options: {
  socketPath: string;
  target: string;
  gid: number;
  fault?: (request: ProxiedRequest) => FleetFault | undefined;
  onRequest?: (request: ProxiedRequest) => void;
}): Promise<FleetFaultProxy> {
  const seen: FleetFaultProxy['seen'] = [];
  const server = http.createServer((incoming, outgoing) => {
    const request = { method: incoming.method ?? '', url: incoming.url ?? '', at: Date.now() };
    options.onRequest?.(request);
    const fault = options.fault?.(request);
    if (fault) {
      incoming.resume();
      seen.push({ ...request, status: fault.status });
      outgoing.writeHead(fault.status, { 'Content-Type': 'application/json' });
      outgoing.end(JSON.stringify({ error: { code: fault.status, message: fault.message } }));
      return;
    }
    const forwarded = http.request(
      {
        socketPath: options.target,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (answer) => {
        seen.push({ ...request, status: answer.statusCode ?? 0 });
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await fs.rm(options.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.socketPath, () => resolve());
  });
  await fs.chmod(options.socketPath, 0o660);
  await fs.chown(options.socketPath, 0, options.gid);
  return {
    socketPath: options.socketPath,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface CuttableTcpProxy {
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Destroys every open connection both ways (new ones are still accepted). */
  cut(): void;
  /**
   * Stops forwarding on every open connection without closing it, as a path that drops packets
   * silently does (no FIN, no RST); connections accepted later are forwarded.
   */
  blackHole(): void;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 to 127.0.0.1:targetPort. */
export async function startCuttableTcpProxy(targetPort: number): Promise<CuttableTcpProxy> {
  const open = new Set<[net.Socket, net.Socket]>();
  const proxy: CuttableTcpProxy = {
    port: 0,
    accepted: 0,
    cut() {
      for (const pair of open) for (const socket of pair) socket.destroy();
      open.clear();
    },
    blackHole() {
      for (const [client, upstream] of open) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.cut();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((client) => {
    proxy.accepted++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [client, upstream];
    open.add(pair);
    for (const socket of pair) {
      socket.on('error', () => undefined);
      socket.once('close', () => {
        open.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.port = (server.address() as net.AddressInfo).port;
  return proxy;
}
