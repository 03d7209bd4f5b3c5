/** The words telemetry uses for failed MCP requests (`error.type`). */

/** `error.type` for a failed request, by its JSON-RPC code (the original's words). */
export function mcpErrorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'number') return 'internal_error';
  switch (code) {
    case -32700:
      return 'parse_error';
    case -32600:
      return 'invalid_request';
    case -32601:
      return 'method_not_found';
    case -32602:
      return 'invalid_params';
    case -32603:
      return 'internal_error';
    case -32000:
      return 'rate_limit_exceeded';
    default:
      return code >= -32099 && code <= -32001 ? 'server_error' : 'unknown';
  }
}
