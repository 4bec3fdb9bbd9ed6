#!/usr/bin/env node
const USAGE = `pmta-agent: warmup quota gate between MailWizz and PowerMTA

Usage:
  pmta-agent run [--config FILE]            start the daemon
  pmta-agent check-config [--config FILE]   validate the config file
  pmta-agent sim --smtp HOST:PORT --acct-dir DIR [options]
                                            run the PowerMTA simulator
  pmta-agent hash-password                  read a password on stdin, print its hash
  pmta-agent token new [--name N] [--scopes S] [--tenants T] [--write FILE]
                                            make an API token (and put it in the config)
  pmta-agent acct-pipe --dir DIR            run by PowerMTA (accounting.mode "pipe"): its records
                                            on stdin, spooled fsynced to DIR/pipe-YYYY-MM-DD.csv
  pmta-agent demo [--messages N]            the agent and the simulator on loopback, with quotas moving

Operator commands (over the control API; URL and token from $PMTA_AGENT_URL and
$PMTA_AGENT_TOKEN, else from the config file). Tables by default, --json for scripts:
  pmta-agent status
  pmta-agent quota <tenant>
  pmta-agent check <tenant> <n>
  pmta-agent forecast <tenant> [--days N] [--add-ip-every D]
  pmta-agent add-domain --tenant T --domain D --ip A [--hostname H]
  pmta-agent ip pause|resume|retire <ip> --reason TEXT
  pmta-agent ip list
  pmta-agent ip warmup <ip> --day N | --start YYYY-MM-DD [--hold-until D]
  pmta-agent user delete <tenant> <username>
  pmta-agent suppression add|remove <tenant> <email> | list <tenant>
  pmta-agent pmta render|apply            the PowerMTA config the agent owns
  pmta-agent pmta lint [FILE...]          check a PowerMTA config against the guide (no agent needed with FILE)

Config path (run and every command): --config, else $PMTA_AGENT_CONFIG, else the first that exists of
config/pmta-agent.json, /etc/pmta-agent/config.json, config/pmta-agent.dev.json (what npm start runs).
Each command answers --help. Exit codes: 0 ok, 1 failure, 2 usage error.
`;

// Each command's module is loaded when it runs: `run` must not carry the
// simulator, the demo, the linter and the API client in the daemon's memory.
type Command = (argv: string[]) => Promise<number>;
const commands: Record<string, Command> = {
  run: async (argv) => (await import('./run.js')).runDaemonCommand(argv),
  'check-config': async (argv) => (await import('./check-config.js')).runCheckConfig(argv),
  sim: async (argv) => (await import('../sim/cli.js')).runSimCommand(argv),
  'hash-password': async (argv) => (await import('./hash-password.js')).runHashPassword(argv),
  token: async (argv) => (await import('./token.js')).runToken(argv),
  status: async (argv) => (await import('./ops.js')).runStatus(argv),
  quota: async (argv) => (await import('./ops.js')).runQuota(argv),
  check: async (argv) => (await import('./ops.js')).runCheck(argv),
  'add-domain': async (argv) => (await import('./ops.js')).runAddDomain(argv),
  ip: async (argv) => (await import('./ops.js')).runIp(argv),
  pmta: async (argv) => (argv[0] === 'lint' ? (await import('./pmta-lint.js')).runPmtaLint(argv.slice(1)) : (await import('./ops.js')).runPmta(argv)),
  forecast: async (argv) => (await import('./ops.js')).runForecast(argv),
  suppression: async (argv) => (await import('./ops.js')).runSuppression(argv),
  user: async (argv) => (await import('./ops.js')).runUser(argv),
  demo: async (argv) => (await import('./demo.js')).runDemo(argv),
  'acct-pipe': async (argv) => (await import('./acct-pipe.js')).runAcctPipe(argv),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  const run = commands[cmd];
  if (!run) {
    process.stderr.write(`pmta-agent: unknown command '${cmd}'\n${USAGE}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`pmta-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
