package pgqueue

import "github.com/llm-connector/llm-connector/internal/store"

// migrations create the queue and its owners.
//
// A row is available when held is false (and retry_at has come); claiming
// sets held and owner. Leases are per instance, not per row: each queue
// keeps a row in llmc_track_queue_owners alive (alive_until), one tiny
// update every Lease/3 however many rows it holds, and any instance that
// finds an owner's lease run out deletes the owner and frees its rows in
// one statement. owner stays after a release, so that the next claimant
// knows whether someone else had the row (Entry.Recovered).
//
// Only available rows are in the claim index (…_ready), so a claim never
// walks past the rows in flight (a window of a minute of traffic);
// fillfactor leaves room on the page for the claim's new row version.
var migrations = []store.Migration{{
	Version: 1,
	SQL: `CREATE TABLE llmc_track_queue (
	seq BIGSERIAL PRIMARY KEY,
	channel TEXT NOT NULL,
	appended_at TIMESTAMPTZ NOT NULL,
	call BYTEA NOT NULL,
	held BOOLEAN NOT NULL DEFAULT false,
	owner TEXT,
	retry_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
	attempts INTEGER NOT NULL DEFAULT 0,
	group_name TEXT,
	group_size INTEGER NOT NULL DEFAULT 0
) WITH (fillfactor = 70);
CREATE INDEX llmc_track_queue_ready ON llmc_track_queue (channel, seq) WHERE NOT held;
CREATE INDEX llmc_track_queue_held ON llmc_track_queue (owner) WHERE held;
CREATE INDEX llmc_track_queue_group ON llmc_track_queue (channel, group_name, seq) WHERE group_name IS NOT NULL;
CREATE TABLE llmc_track_queue_owners (
	owner TEXT PRIMARY KEY,
	channel TEXT NOT NULL,
	alive_until TIMESTAMPTZ NOT NULL
)`,
}}

// The statements. $1 is always the channel.
const (
	insertSQL = `INSERT INTO llmc_track_queue (channel, appended_at, call)
SELECT $1, u.at, u.call FROM unnest($2::timestamptz[], $3::bytea[]) WITH ORDINALITY AS u(at, call, n) ORDER BY u.n`

	ackSQL = `DELETE FROM llmc_track_queue WHERE channel = $1 AND seq = ANY($2::bigint[])`

	// releaseSQL gives rows back: $2 the seqs, $3 the delays in
	// microseconds, $4 how much to take off attempts (1 for rows claimed
	// but never handed out), $5 the owner.
	releaseSQL = `UPDATE llmc_track_queue q SET held = false,
	retry_at = now() + r.delay * interval '1 microsecond', attempts = q.attempts - r.undo
FROM unnest($2::bigint[], $3::bigint[], $4::int[]) AS r(seq, delay, undo)
WHERE q.channel = $1 AND q.seq = r.seq AND q.held AND q.owner = $5`

	// claimSQL holds up to $2 available rows from seq $4 on for owner $3
	// (see Queue.floor). A grouped row
	// is only picked when it is the lowest remaining member of its group,
	// and picking it takes every available member: the lock on that one
	// row keeps two instances from splitting a group. The last column,
	// recovered: someone else had the row before (and may have delivered
	// it in part).
	claimSQL = `WITH pick AS (
	SELECT q.seq, q.group_name, q.owner, q.attempts FROM llmc_track_queue q
	WHERE q.channel = $1 AND NOT q.held AND q.retry_at <= now() AND q.seq >= $4
	  AND (q.group_name IS NULL OR NOT EXISTS (SELECT 1 FROM llmc_track_queue g
	       WHERE g.channel = q.channel AND g.group_name = q.group_name AND g.seq < q.seq))
	ORDER BY q.channel, q.seq LIMIT $2
	FOR UPDATE SKIP LOCKED
), members AS (
	SELECT m.seq, m.owner, m.attempts FROM llmc_track_queue m
	WHERE m.channel = $1 AND NOT m.held
	  AND m.group_name IN (SELECT p.group_name FROM pick p WHERE p.group_name IS NOT NULL)
	FOR UPDATE
), old AS (
	SELECT seq, owner, attempts FROM pick
	UNION ALL
	SELECT seq, owner, attempts FROM members WHERE seq NOT IN (SELECT seq FROM pick)
)
UPDATE llmc_track_queue q SET held = true, owner = $3, attempts = q.attempts + 1
FROM old WHERE q.seq = old.seq
RETURNING q.seq, q.call, q.appended_at, q.attempts, COALESCE(q.group_name, ''), q.group_size,
	(old.attempts > 0 AND old.owner IS DISTINCT FROM $3)`

	// aliveSQL renews this queue's lease; inserted is true when the owner
	// row was missing: at the first call, or after another instance took
	// this one for dead and freed its rows.
	aliveSQL = `INSERT INTO llmc_track_queue_owners (owner, channel, alive_until)
VALUES ($2, $1, now() + $3 * interval '1 microsecond')
ON CONFLICT (owner) DO UPDATE SET alive_until = EXCLUDED.alive_until
RETURNING xmax = 0`

	// sweepSQL frees the rows of every owner whose lease ran out, and
	// forgets the owner, in one statement.
	sweepSQL = `WITH dead AS (
	DELETE FROM llmc_track_queue_owners WHERE alive_until < now() RETURNING owner
)
UPDATE llmc_track_queue q SET held = false FROM dead WHERE q.held AND q.owner = dead.owner`

	// stillHeldSQL lists which of $2 this owner ($3) still holds.
	stillHeldSQL = `SELECT seq FROM llmc_track_queue
WHERE channel = $1 AND seq = ANY($2::bigint[]) AND held AND owner = $3`

	// goneSQL is Close: free whatever this owner still holds, forget it.
	goneSQL = `WITH gone AS (DELETE FROM llmc_track_queue_owners WHERE owner = $2 RETURNING owner)
UPDATE llmc_track_queue SET held = false WHERE channel = $1 AND held AND owner = $2`

	groupSQL = `UPDATE llmc_track_queue SET group_name = $2, group_size = $3
WHERE channel = $1 AND seq = ANY($4::bigint[]) AND held AND owner = $5`

	statsSQL = `SELECT count(*), COALESCE(sum(octet_length(call)), 0), min(appended_at)
FROM llmc_track_queue WHERE channel = $1`

	// dropSQL deletes the $2 oldest rows that nobody holds and no group
	// claims (the DropOldest policy on the table).
	dropSQL = `DELETE FROM llmc_track_queue WHERE seq IN (
	SELECT seq FROM llmc_track_queue WHERE channel = $1 AND NOT held AND group_name IS NULL
	ORDER BY channel, seq LIMIT $2 FOR UPDATE SKIP LOCKED)`
)
