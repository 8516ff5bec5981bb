/** The host contract, hostApi 1.x (../shared/CONTRACT.md). */

export interface Disposable {
  dispose(): void;
}

export interface HostLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** The envelope every PBX event arrives in. `data` is checked against the type's schema. */
export interface PbxEvent {
  id: string;
  type: string;
  tenant: string;
  occurredAt: string;
  data: unknown;
}

export interface HostContext {
  readonly hostApiVersion: string;
  readonly manifest: Record<string, unknown>;
  readonly config: unknown;
  readonly dataDir: string;
  readonly log: HostLog;
  on(type: string, handler: (event: PbxEvent) => Promise<void>): Disposable;
  emit?(type: string, payload: Record<string, unknown>): void;
  onConfigChange?(listener: (config: unknown) => void): Disposable;
}

export interface PluginInstance {
  /** Stops taking events, finishes or abandons in-flight sessions within a bound, releases every handle. Idempotent. */
  deactivate(): Promise<void>;
}
