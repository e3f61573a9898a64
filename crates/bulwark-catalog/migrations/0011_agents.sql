-- Agents: Bulwark processes on other hosts, each known by its ed25519 key (OpenSSH format),
-- never by the address it connects from. `address` is the seed's `ip:port` a target names in
-- its `agent` field: the agent listens there (mode listen), or it was given that address when
-- it enrolled (mode dial, for agents behind NAT that connect to the core).
CREATE TABLE agents (
    uuid         TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    address      TEXT NOT NULL UNIQUE,
    mode         TEXT NOT NULL CHECK (mode IN ('listen', 'dial')),
    public_key   TEXT NOT NULL UNIQUE,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'revoked')),
    version      TEXT NOT NULL DEFAULT '',
    plugins      TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER,
    last_error   TEXT NOT NULL DEFAULT ''
);

-- Single-use enrollment tokens for dial-out agents: only a hash of the secret is kept.
CREATE TABLE agent_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL,
    address     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    agent_uuid  TEXT REFERENCES agents (uuid) ON DELETE SET NULL
);

-- A target's `agent` said an ip:port nobody listened on; tasks ran on the daemon's host. Those
-- on loopback now say so: `local`.
UPDATE targets SET agent = 'local' WHERE agent LIKE '127.%' OR agent LIKE 'localhost:%' OR agent LIKE '[::1]:%';
