/** criu-ts's own version (`criu-ts --version`, the RPC VERSION answer's gitid). */
export const VERSION = '0.1.0';

/** The CRIU release whose images, command line and RPC criu-ts follows: what RPC clients compare against. */
export const CRIU_COMPAT = { major: 4, minor: 2 } as const;
