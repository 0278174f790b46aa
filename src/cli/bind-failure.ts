// Owns: the one line a command that listens (`listen`, `serve`) says when it cannot bind its address.

import { isIPv6 } from 'node:net';

/** Why a bind failed, said once: Node's message repeats the address and the syscall. */
const BIND_FAILURES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: "the address is not one of this machine's",
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved now (DNS did not answer)',
};

/** `cannot listen on HOST:PORT: why`, for an error of the bind or of resolving its host; null for any other error. */
export function bindFailure(error: unknown, host: string, port: number): string | null {
  const { syscall } = (error ?? {}) as NodeJS.ErrnoException;
  return syscall === 'listen' || syscall === 'bind' || syscall === 'getaddrinfo' ? cannotListen(error, host, port) : null;
}

/** `cannot listen on HOST:PORT: why`, for an error of a listen. */
export function cannotListen(error: unknown, host: string, port: number): string {
  // An IPv6 address in brackets, as a URL writes it: `::1:3000` reads as another address.
  const address = isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  const { code } = (error ?? {}) as NodeJS.ErrnoException;
  return `cannot listen on ${address}: ${BIND_FAILURES[code ?? ''] ?? (error as Error).message}`;
}
