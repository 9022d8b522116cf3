// PostgreSQL frontend/backend protocol v3 message codes and limits.
// https://www.postgresql.org/docs/current/protocol-message-formats.html

/** Messages a client sends (type byte). */
export const enum Fe {
  Bind = 0x42, // 'B'
  Close = 0x43, // 'C'
  CopyData = 0x64, // 'd'
  CopyDone = 0x63, // 'c'
  CopyFail = 0x66, // 'f'
  Describe = 0x44, // 'D'
  Execute = 0x45, // 'E'
  Flush = 0x48, // 'H'
  FunctionCall = 0x46, // 'F'
  Parse = 0x50, // 'P'
  /** PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse share 'p'. */
  Password = 0x70, // 'p'
  Query = 0x51, // 'Q'
  Sync = 0x53, // 'S'
  Terminate = 0x58, // 'X'
}

/** Messages a server sends (type byte). */
export const enum Be {
  Authentication = 0x52, // 'R'
  BackendKeyData = 0x4b, // 'K'
  BindComplete = 0x32, // '2'
  CloseComplete = 0x33, // '3'
  CommandComplete = 0x43, // 'C'
  CopyData = 0x64, // 'd'
  CopyDone = 0x63, // 'c'
  CopyInResponse = 0x47, // 'G'
  CopyOutResponse = 0x48, // 'H'
  CopyBothResponse = 0x57, // 'W'
  DataRow = 0x44, // 'D'
  EmptyQueryResponse = 0x49, // 'I'
  ErrorResponse = 0x45, // 'E'
  FunctionCallResponse = 0x56, // 'V'
  NegotiateProtocolVersion = 0x76, // 'v'
  NoData = 0x6e, // 'n'
  NoticeResponse = 0x4e, // 'N'
  NotificationResponse = 0x41, // 'A'
  ParameterDescription = 0x74, // 't'
  ParameterStatus = 0x53, // 'S'
  ParseComplete = 0x31, // '1'
  PortalSuspended = 0x73, // 's'
  ReadyForQuery = 0x5a, // 'Z'
  RowDescription = 0x54, // 'T'
}

/** Request codes in the version field of untyped startup-phase packets. */
export const enum StartupCode {
  /** Protocol 3.0. */
  Protocol30 = 196608,
  /** Protocol 3.2 (PostgreSQL 18): variable-length cancel keys. */
  Protocol32 = 196610,
  CancelRequest = 80877102,
  SSLRequest = 80877103,
  GSSENCRequest = 80877104,
}

/** Authentication request subtypes carried by 'R'. */
export const enum AuthCode {
  Ok = 0,
  CleartextPassword = 3,
  MD5Password = 5,
  SASL = 10,
  SASLContinue = 11,
  SASLFinal = 12,
}

/** The server's own limit on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET = 10000;
/** The server's limit for messages not expected to be large (PQ_SMALL_MESSAGE_LIMIT). */
export const SMALL_MESSAGE_LIMIT = 10000;
/** The server's limit for the rest (PQ_LARGE_MESSAGE_LIMIT = MaxAllocSize - 1). */
export const LARGE_MESSAGE_LIMIT = 0x3fffffff;
/** Protocol 3.2 cancel keys are at most 256 bytes. */
export const MAX_CANCEL_KEY = 256;

/**
 * Per frontend type byte: 0 = not a valid message after startup, 1 = small, 2 = may be large.
 * Mirrors the server's check in SocketBackend so we reject exactly what it would.
 */
export const FE_KIND: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const c of [Fe.Sync, Fe.Terminate, Fe.Flush, Fe.CopyDone, Fe.Close, Fe.Describe, Fe.Execute]) t[c] = 1;
  for (const c of [Fe.Query, Fe.Parse, Fe.Bind, Fe.FunctionCall, Fe.CopyData, Fe.CopyFail, Fe.Password]) t[c] = 2;
  return t;
})();
