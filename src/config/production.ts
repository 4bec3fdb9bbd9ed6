import type { Config } from './schema.js';

/**
 * What a production config must not have, as "path: why" lines: plaintext SMTP
 * passwords (the file is read by the service and backed up with /etc), the
 * example config's demo tenants (their passwords are published), and a
 * reloadCommand that does not reload PowerMTA, and the development simulator. `example` is the example config,
 * when it can be read.
 */
export function productionProblems(cfg: Config, example: Config | null): string[] {
  const out: string[] = [];
  const demo = {
    slugs: new Set(example?.tenants.map((t) => t.slug)),
    users: new Set(example?.tenants.flatMap((t) => t.users.map((u) => u.username))),
    domains: new Set(example?.tenants.flatMap((t) => t.domains)),
  };
  cfg.tenants.forEach((t, i) => {
    if (demo.slugs.has(t.slug)) out.push(`tenants.${i}.slug: ${t.slug} is a demo tenant of the example config`);
    t.domains.forEach((d, j) => {
      if (demo.domains.has(d)) out.push(`tenants.${i}.domains.${j}: ${d} is a demo domain of the example config`);
    });
    t.users.forEach((u, j) => {
      if (demo.users.has(u.username)) out.push(`tenants.${i}.users.${j}.username: ${u.username} is a demo user of the example config`);
      if (u.password !== undefined) out.push(`tenants.${i}.users.${j}.password: a plaintext password; put passwordHash from \`pmta-agent hash-password\` instead`);
    });
  });
  if (cfg.dev.simulator !== null) out.push('dev.simulator: the PowerMTA simulator is for development only (npm start); remove the dev section');
  if (/^\s*(true|:)\s*$/.test(cfg.pmta.reloadCommand)) out.push(`pmta.reloadCommand: "${cfg.pmta.reloadCommand}" does not reload PowerMTA`);
  return out;
}
