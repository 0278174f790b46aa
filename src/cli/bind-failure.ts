// Owns: the one line a command that listens (`listen`, `serve`) says when it cannot bind its address.

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
  const { code, syscall } = (error ?? {}) as NodeJS.ErrnoException;
  if (syscall !== 'listen' && syscall !== 'bind' && syscall !== 'getaddrinfo') return null;
  return `cannot listen on ${host}:${port}: ${BIND_FAILURES[code ?? ''] ?? (error as Error).message}`;
}
