// The catalogue of coded errors. Each has its HTTP status; the server maps them to responses in
// one handler and the CLI maps them to exit codes. Messages name the field, the value and the fix.

export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  ORIGIN_NOT_ALLOWED: 403,
  HOST_NOT_ALLOWED: 421,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOKEN_NOT_FOUND: 404,
  TOKEN_NAME_TAKEN: 409,
  APP_NOT_FOUND: 404,
  REVISION_NOT_FOUND: 404,
  ROLLOUT_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  INCIDENT_NOT_FOUND: 404,
  DRILL_NOT_FOUND: 404,
  FLAG_NOT_FOUND: 404,
  FLAG_SET_NOT_FOUND: 404,
  ROLLOUT_IN_PROGRESS: 409,
  DRILL_IN_PROGRESS: 409,
  NO_ACTIVE_ROLLOUT: 409,
  INVALID_STATE: 409,
  NO_EARLIER_REVISION: 409,
  ALREADY_SERVING: 409,
  AGENT_UNAVAILABLE: 503,
  NOT_LEADER: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class RewindError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'RewindError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}
