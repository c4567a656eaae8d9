-- 0017_web_sessions_entra: the overview page's sign-in with Entra ID (authorization code +
-- PKCE, report/authcode.h; README "Entra ID sign-in"). A session stands either for an API
-- token (as in 0015: token_sha256, the principal read from api_tokens) or for the Entra
-- principal its access token was verified as (role, team, developer oid, name; the access
-- token itself is never stored), its expiry at most the token's exp. web_signins holds a
-- sign-in under way between the redirect to the identity provider and its callback: the
-- SHA-256 of the pre-session cookie's id, the state and nonce sent, the PKCE code verifier
-- kept back; a row is taken (deleted) by its callback and lives 10 minutes at most. Neither
-- is granted to tally_reader.
ALTER TABLE web_sessions
    ALTER COLUMN token_sha256 DROP NOT NULL,
    ADD COLUMN role text,
    ADD COLUMN team text,
    ADD COLUMN developer_oid text,
    ADD COLUMN name text,
    ADD CONSTRAINT web_sessions_one_principal CHECK (
        (token_sha256 IS NOT NULL AND role IS NULL AND team IS NULL AND developer_oid IS NULL
         AND name IS NULL)
        OR (token_sha256 IS NULL AND role IN ('finance', 'lead', 'developer', 'platform')
            AND name IS NOT NULL
            AND (role = 'lead') = (team IS NOT NULL)
            AND (role = 'developer') = (developer_oid IS NOT NULL)));

CREATE TABLE web_signins (
    id_sha256 text PRIMARY KEY,
    state text NOT NULL,
    nonce text NOT NULL,
    code_verifier text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_signins_expires_at ON web_signins (expires_at);
