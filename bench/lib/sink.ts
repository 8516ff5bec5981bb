import { fork, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import type { ListenerSpec, SinkCounts } from '../smtp-sink';

/** The parent's handle on a bench/smtp-sink child process. */
export class Sink {
  readonly ports: Record<string, number>;
  readonly #child: ChildProcess;

  private constructor(child: ChildProcess, ports: Record<string, number>) {
    this.#child = child;
    this.ports = ports;
  }

  static async start(cert: { key: string; cert: string }, listeners: ListenerSpec[]): Promise<Sink> {
    const child = fork(path.join(__dirname, '..', `smtp-sink${path.extname(__filename)}`), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ports = await new Promise<Record<string, number>>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { ports: Record<string, number> }).ports));
      child.once('exit', (code) => reject(new Error(`smtp sink exited with ${code}`)));
      child.send({ ...cert, listeners });
    });
    child.removeAllListeners('exit');
    return new Sink(child, ports);
  }

  counts(): Promise<SinkCounts> {
    return new Promise((resolve) => {
      this.#child.once('message', (m) => resolve((m as { counts: SinkCounts }).counts));
      this.#child.send({ cmd: 'counts' });
    });
  }

  /** The sink process's pid (for its CPU time, from /proc). */
  get pid(): number {
    return this.#child.pid!;
  }

  /** A `hold` listener answers `pass` more messages, then leaves the end of DATA unanswered; `null` answers all from now on. */
  hold(name: string, pass: number | null): void {
    this.#child.send({ cmd: 'hold', name, pass });
  }

  /** Closes every open connection (blackholed ones included). */
  drop(): void {
    this.#child.send({ cmd: 'drop' });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#child.exitCode !== null) return resolve();
      this.#child.once('exit', () => resolve());
      this.#child.kill('SIGTERM');
    });
  }
}

/** A loopback port with nothing listening: connections to it are refused at once. */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
