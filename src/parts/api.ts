// The HTTP API: the core routes plus the route groups of the other parts,
// and the status sections they report.
import type { AccountingEffects, BatchSummary } from '../accounting/effects.js';
import { createApiApp, type RouteMount } from '../api/app.js';
import type { ApiDeps } from '../api/context.js';
import { statsRoutes, suppressionRoutes, webhookRoutes } from '../api/routes/accounting.js';
import { messageRoutes } from '../api/routes/messages.js';
import { powermtaRoutes } from '../api/routes/powermta.js';
import { templateRoutes } from '../api/routes/templates.js';
import { listenApi } from '../api/server.js';
import { apiTokens } from '../auth/tokens.js';
import { uiRoutes } from '../ui/routes.js';
import type { Ingress } from '../ingress/smtp.js';
import type { PmtaConfigService } from '../pmta/service.js';
import type { SubmitFn } from '../templates/submit.js';
import type { PartContext } from './context.js';
import type { ForwardingPart } from './forwarding.js';
import type { QuotaPart } from './quota.js';
import type { StorePart } from './store.js';

export interface ApiPart {
  address: { host: string; port: number };
  /** Every part is up: /healthz may answer 200. */
  ready(): void;
  /** From now on writes are refused with 503 (shutting down). */
  refuseWrites(): void;
  stop(): Promise<void>;
}

export async function apiPart(
  ctx: PartContext,
  parts: {
    store: StorePart;
    quota: QuotaPart;
    forwarding: ForwardingPart;
    ingress: Ingress;
    submit: SubmitFn;
    pmtaConfig: PmtaConfigService;
    effects: AccountingEffects;
    afterBatch: (summary: BatchSummary) => void;
    /** Sections of /api/v2/status, in this order. */
    statusParts: ApiDeps['statusParts'];
  },
): Promise<ApiPart> {
  const { store, quota, forwarding, ingress } = parts;
  let accepting = true;
  let ready = false;
  const deps: ApiDeps = {
    cfg: ctx.cfg,
    db: store.db,
    registry: store.registry,
    gate: quota.gate,
    ledger: quota.ledger,
    admin: store.admin,
    spool: forwarding.spool,
    health: forwarding.health,
    metrics: ctx.metrics,
    clock: ctx.clock,
    startedAt: new Date(),
    sessions: () => ingress.sessions(),
    messagesInFlight: () => ingress.inFlight(),
    statusParts: parts.statusParts,
    ready: () => ready,
    acceptingWrites: () => accepting,
    ...(quota.sharedStoreHealthy ? { sharedStore: quota.sharedStoreHealthy } : {}),
  };
  const mounts: RouteMount[] = [
    (app) => app.route('/api/v2/powermta', powermtaRoutes(deps, parts.pmtaConfig)),
    (app) => app.route('/api/v2/templates', templateRoutes(deps, store.templates)),
    (app) => app.route('/api/v2/stats', statsRoutes(deps, store.db)),
    (app) => app.route('/api/v2/suppression', suppressionRoutes(deps, store.suppression)),
    (app) => app.route('/api/v2/webhooks', webhookRoutes(deps, parts.effects, parts.afterBatch)),
    (app) => app.route('/api/v2/messages', messageRoutes(deps, store.templates, parts.submit)),
    // The status page reads and changes through the routes above, in process, with the signed-in token.
    (app) => app.route('/ui', uiRoutes({ cfg: ctx.cfg, tokens: () => apiTokens(ctx.cfg()), api: (req, env) => app.fetch(req, env) })),
  ];
  const cfg = ctx.cfg();
  const server = await listenApi(createApiApp(deps, ctx.log, mounts), cfg.api.host, cfg.api.port);
  return {
    address: server.address,
    ready() {
      ready = true;
    },
    refuseWrites() {
      accepting = false;
    },
    stop: () => server.close(),
  };
}
