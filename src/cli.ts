#!/usr/bin/env node
/** The `nexus` command: argv and env -> config -> running server -> signals. The only process-level code. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { checkConfigFile, ConfigError, loadConfig } from './config/load.js';
import { listenAddress, type ListenAddress } from './config/schema.js';
import { createLogger, type LogLevel, type LogStyle } from './log.js';
import { startNexus, StartupError } from './server.js';
import { NEXUS_VERSION } from './version.js';

const LOG_LEVELS: LogLevel[] = ['off', 'error', 'warn', 'info', 'debug', 'trace'];
const LOG_STYLES: LogStyle[] = ['color', 'text', 'json'];

interface CliOptions {
  config: string;
  listenAddress?: ListenAddress;
  log: LogLevel;
  logStyle?: LogStyle;
}

function parseListenAddress(value: string): ListenAddress {
  const parsed = listenAddress.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'bad listen address');
  return parsed.data;
}

const program = new Command('nexus')
  .description('An MCP gateway: one endpoint in front of all your MCP servers.')
  .version(NEXUS_VERSION, '--version', 'print the version and exit')
  .helpOption('-h, --help', 'show this help')
  // `nexus check -c PATH`: options after a subcommand are the subcommand's.
  .enablePositionalOptions()
  .addOption(new Option('-c, --config <path>', 'path to the config file').env('NEXUS_CONFIG_PATH').default('./nexus.toml'))
  .addOption(
    new Option('-l, --listen-address <host:port>', 'address to listen on (beats server.listen_address)')
      .env('NEXUS_LISTEN_ADDRESS')
      .argParser(parseListenAddress),
  )
  .addOption(new Option('--log <level>', 'log level').env('NEXUS_LOG').choices(LOG_LEVELS).default('info'))
  .addOption(
    new Option('--log-style <style>', 'log style (default: color on a terminal, else text)').env('NEXUS_LOG_STYLE').choices(LOG_STYLES),
  )
  .action(run);

program
  .command('check')
  .description('validate the config as nexus would, without starting anything; exit 1 when it has problems')
  // Without its own -c, the one given before `check` (or NEXUS_CONFIG_PATH, or ./nexus.toml).
  .addOption(new Option('-c, --config <path>', 'path to the config file (default: as for nexus)'))
  .action(check);

/** `nexus check`: every problem of the config (not only the first) and its warnings; exit 0 only when it is valid. */
async function check(own: { config?: string }): Promise<void> {
  const options = { config: own.config ?? program.opts<CliOptions>().config };
  const { problems, warnings } = await checkConfigFile(options.config);
  const at = (path: string) => `${options.config}: ${path ? `${path}: ` : ''}`;
  for (const [path, problem] of problems) process.stderr.write(`error: ${at(path)}${problem}\n`);
  for (const [path, warning] of warnings) process.stderr.write(`warning: ${at(path)}${warning}\n`);
  const verdict =
    problems.length > 0
      ? `${options.config}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`
      : `${options.config}: valid${warnings.length > 0 ? ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})` : ''}`;
  process.stdout.write(`${verdict}\n`);
  process.exit(problems.length > 0 ? 1 : 0);
}

async function run(options: CliOptions): Promise<void> {
  const logger = createLogger(options.log, options.logStyle ?? (process.stdout.isTTY ? 'color' : 'text'));
  let nexus;
  try {
    const config = await loadConfig(options.config);
    nexus = await startNexus(config, { logger, listenAddress: options.listenAddress });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StartupError) {
      // A bad --listen-address is not the file's fault, so only config keys get the file name.
      const where = error instanceof StartupError ? `${error.source.startsWith('--') ? '' : `${options.config}: `}${error.source}: ` : '';
      process.stderr.write(`nexus: ${where}${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  // A rejection nobody handled is a bug, but one of a single request's or connection's: the
  // gateway serving everyone else stays up (Node would exit), and says so.
  process.on('unhandledRejection', (reason) =>
    logger.error(
      { err: reason instanceof Error ? reason.message : String(reason) },
      'unhandled promise rejection (a bug in nexus; please report it)',
    ),
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    nexus.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: String(error) }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

await program.parseAsync(process.argv);
