package pgqueue

import "github.com/llm-connector/llm-connector/internal/store"

// migrations create the queue table. lease_until and retry_at are
// '-infinity' when unset, so "claimable" is two plain comparisons:
// lease_until < now() AND retry_at <= now(). lease_owner is the last
// instance that claimed the row; it stays after a release so that another
// instance claiming the row knows it may have been delivered in part.
var migrations = []store.Migration{{
	Version: 1,
	SQL: `CREATE TABLE llmc_track_queue (
	seq BIGSERIAL PRIMARY KEY,
	channel TEXT NOT NULL,
	appended_at TIMESTAMPTZ NOT NULL,
	call BYTEA NOT NULL,
	lease_owner TEXT,
	lease_until TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
	retry_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
	attempts INTEGER NOT NULL DEFAULT 0,
	group_name TEXT,
	group_size INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX llmc_track_queue_channel_seq ON llmc_track_queue (channel, seq);
CREATE INDEX llmc_track_queue_group ON llmc_track_queue (channel, group_name, seq) WHERE group_name IS NOT NULL`,
}}

// The statements. $1 is always the channel.
const (
	insertSQL = `INSERT INTO llmc_track_queue (channel, appended_at, call)
SELECT $1, u.at, u.call FROM unnest($2::timestamptz[], $3::bytea[]) WITH ORDINALITY AS u(at, call, n) ORDER BY u.n`

	ackSQL = `DELETE FROM llmc_track_queue WHERE channel = $1 AND seq = ANY($2::bigint[])`

	// releaseSQL gives rows back: $3 the seqs, $4 the delays in
	// microseconds, $5 how much to take off attempts (1 for rows claimed
	// but never handed out), $6 the owner.
	releaseSQL = `UPDATE llmc_track_queue q SET lease_until = '-infinity',
	retry_at = now() + r.delay * interval '1 microsecond', attempts = q.attempts - r.undo
FROM unnest($2::bigint[], $3::bigint[], $4::int[]) AS r(seq, delay, undo)
WHERE q.channel = $1 AND q.seq = r.seq AND q.lease_owner = $5 AND q.lease_until > '-infinity'`

	// claimSQL leases up to $2 ready rows for owner $3 for $4
	// microseconds. A grouped row is only picked when it is the lowest
	// remaining member of its group, and picking it takes every claimable
	// member: the lock on that one row keeps two instances from splitting
	// a group. recovered: someone else had the row before, or a lease on
	// it ran out without an ack or release.
	claimSQL = `WITH pick AS (
	SELECT q.seq, q.group_name, q.lease_owner, q.lease_until, q.attempts FROM llmc_track_queue q
	WHERE q.channel = $1 AND q.lease_until < now() AND q.retry_at <= now()
	  AND (q.group_name IS NULL OR NOT EXISTS (SELECT 1 FROM llmc_track_queue g
	       WHERE g.channel = q.channel AND g.group_name = q.group_name AND g.seq < q.seq))
	ORDER BY q.seq LIMIT $2
	FOR UPDATE SKIP LOCKED
), members AS (
	SELECT m.seq, m.lease_owner, m.lease_until, m.attempts FROM llmc_track_queue m
	WHERE m.channel = $1 AND m.lease_until < now()
	  AND m.group_name IN (SELECT p.group_name FROM pick p WHERE p.group_name IS NOT NULL)
	FOR UPDATE
), old AS (
	SELECT seq, lease_owner, lease_until, attempts FROM pick
	UNION ALL
	SELECT seq, lease_owner, lease_until, attempts FROM members WHERE seq NOT IN (SELECT seq FROM pick)
)
UPDATE llmc_track_queue q SET lease_owner = $3, lease_until = now() + $4 * interval '1 microsecond',
	attempts = q.attempts + 1
FROM old WHERE q.seq = old.seq
RETURNING q.seq, q.call, q.appended_at, q.attempts, COALESCE(q.group_name, ''), q.group_size,
	(old.attempts > 0 AND (old.lease_owner IS DISTINCT FROM $3 OR old.lease_until > '-infinity'))`

	renewSQL = `UPDATE llmc_track_queue SET lease_until = now() + $4 * interval '1 microsecond'
WHERE channel = $1 AND seq = ANY($2::bigint[]) AND lease_owner = $3 AND lease_until > '-infinity'
RETURNING seq`

	groupSQL = `UPDATE llmc_track_queue SET group_name = $2, group_size = $3
WHERE channel = $1 AND seq = ANY($4::bigint[]) AND lease_owner = $5 AND lease_until > now()`

	statsSQL = `SELECT count(*), COALESCE(sum(octet_length(call)), 0), min(appended_at)
FROM llmc_track_queue WHERE channel = $1`

	// dropSQL deletes the $2 oldest rows that nobody holds and no group
	// claims (the DropOldest policy on the table).
	dropSQL = `DELETE FROM llmc_track_queue WHERE seq IN (
	SELECT seq FROM llmc_track_queue WHERE channel = $1 AND lease_until < now() AND group_name IS NULL
	ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)`
)
