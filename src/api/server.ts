import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Env } from './context.js';

export interface ApiServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

export function listenApi(app: Hono<Env>, host: string, port: number): Promise<ApiServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    try {
      server = serve({ fetch: app.fetch, hostname: host, port }, (info) =>
        resolve({
          address: { host, port: info.port },
          close: () =>
            new Promise((r) => {
              (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
              server.close(() => r());
            }),
        }),
      );
      server.once('error', reject);
    } catch (err) {
      reject(err);
    }
  });
}
