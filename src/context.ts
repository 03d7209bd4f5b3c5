/**
 * Request types that the inbound middleware (http/) produces and the features (mcp/, llm/) read,
 * here so that neither folder imports the other for them. Imports nothing of ours.
 */

/** Who is calling, with client identification on: their group decides what they may use. */
export interface ClientIdentity {
  id: string;
  group: string | undefined;
}
