-- Signed checkpoints of the audit ledger (C2SP tlog-checkpoint notes, Ed25519), with the witness
-- cosignatures gathered for each. A checkpoint is final once enough witnesses cosigned it. The
-- copy here is for convenience: what protects the log is the copies witnesses keep.
CREATE TABLE IF NOT EXISTS helios.ledger_checkpoints (
  size        bigint PRIMARY KEY CHECK (size >= 0),
  root        bytea NOT NULL CHECK (length(root) = 32),
  -- The signed note, cosignature lines included as they arrive.
  note        text NOT NULL,
  cosigners   integer NOT NULL DEFAULT 0,
  final       boolean NOT NULL DEFAULT false,
  signed_at   timestamptz NOT NULL DEFAULT now()
);
