// Typed errors with stable codes: operators grep codes, tests assert them (undici style).

export class SluiceError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SluiceError';
    this.code = code;
  }
}

export const ErrorCode = {
  config: 'SLUICE_ERR_CONFIG',
  noBroker: 'SLUICE_ERR_NO_BROKER',
  listen: 'SLUICE_ERR_LISTEN',
  worker: 'SLUICE_ERR_WORKER',
  demo: 'SLUICE_ERR_DEMO',
} as const;

export function configError(message: string, options?: { cause?: unknown }): SluiceError {
  return new SluiceError(ErrorCode.config, message, options);
}
