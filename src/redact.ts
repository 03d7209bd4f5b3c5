/**
 * Error texts from HTTP clients often quote the URL they failed on, and a URL may carry
 * credentials (`user:pass@`) or keys in its query. Before such a text reaches a log line or a
 * client, the user info and the query of every URL in it are replaced.
 */
const URL_IN_TEXT = /\b(https?|wss?|rediss?):\/\/([^\s"'<>]+)/gi;

export function redactUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (_, scheme: string, rest: string) => {
    const withoutUser = rest.replace(/^[^/?#@]*@/, '…@');
    return `${scheme}://${withoutUser.replace(/\?[^#]*/, '?…')}`;
  });
}
