/**
 * nexus's log lines exported over OTLP: a pino destination that turns each line (already
 * redacted, as every line nexus writes) into a log record. pino writes synchronously within the
 * logging call, so the record takes the trace and span of the code that logged it.
 */
import { SeverityNumber, type AnyValue } from '@opentelemetry/api-logs';
import type { LoggerProvider } from '@opentelemetry/sdk-logs';
import { NEXUS_VERSION } from '../version.js';

/** pino's numeric levels, as OpenTelemetry severities. */
const SEVERITIES: Record<number, [SeverityNumber, string]> = {
  10: [SeverityNumber.TRACE, 'TRACE'],
  20: [SeverityNumber.DEBUG, 'DEBUG'],
  30: [SeverityNumber.INFO, 'INFO'],
  40: [SeverityNumber.WARN, 'WARN'],
  50: [SeverityNumber.ERROR, 'ERROR'],
  60: [SeverityNumber.FATAL, 'FATAL'],
};

/** Fields of a pino line that are not attributes of the record. */
const OWN_FIELDS = new Set(['level', 'time', 'msg', 'trace_id', 'span_id', 'trace_flags']);

export class LogExport {
  private readonly logger;

  constructor(private readonly provider: LoggerProvider) {
    this.logger = provider.getLogger('nexus', NEXUS_VERSION);
  }

  /** A pino destination: one JSON line per call. */
  readonly destination = {
    write: (line: string): void => {
      let fields: Record<string, unknown>;
      try {
        fields = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      const [severityNumber, severityText] = SEVERITIES[fields['level'] as number] ?? [SeverityNumber.UNSPECIFIED, 'UNSPECIFIED'];
      const attributes: Record<string, AnyValue> = {};
      for (const [key, value] of Object.entries(fields)) {
        if (OWN_FIELDS.has(key) || value === null || value === undefined) continue;
        attributes[key] = typeof value === 'object' ? JSON.stringify(value) : (value as AnyValue);
      }
      this.logger.emit({
        severityNumber,
        severityText,
        body: typeof fields['msg'] === 'string' ? fields['msg'] : '',
        attributes,
        ...(typeof fields['time'] === 'number' && { timestamp: fields['time'] }),
      });
    },
  };

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
