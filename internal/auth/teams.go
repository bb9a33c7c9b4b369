package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/llm-connector/llm-connector/internal/store"
)

// ErrTeamNotFound says a team has no row (no budget set).
var ErrTeamNotFound = errors.New("auth: no such team")

// MaxTeamName bounds a team name.
const MaxTeamName = 128

// Team is a group of keys with a shared budget; 0 means no limit for
// that period. Usage rolls up per team in the ledger.
type Team struct {
	Name       string    `json:"name"`
	DailyUSD   float64   `json:"daily_usd"`
	MonthlyUSD float64   `json:"monthly_usd"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// teamMigration is the key store's second step: team budgets.
var teamMigration = store.Migration{
	Version: 2,
	SQL: `CREATE TABLE teams (
	name TEXT PRIMARY KEY,
	daily_usd DOUBLE PRECISION NOT NULL,
	monthly_usd DOUBLE PRECISION NOT NULL,
	updated_at BIGINT NOT NULL
)`,
}

// ValidTeamName reports whether name can name a team: 1..MaxTeamName
// printable characters without spaces.
func ValidTeamName(name string) bool {
	if name == "" || len(name) > MaxTeamName {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// SetTeam creates or replaces a team's budget. Keys of the team see it
// here at once and on other instances within CacheTTL.
func (s *Store) SetTeam(ctx context.Context, t Team) (Team, error) {
	if !ValidTeamName(t.Name) {
		return Team{}, fmt.Errorf("auth: set team: invalid name")
	}
	if t.DailyUSD < 0 || t.MonthlyUSD < 0 {
		return Team{}, errors.New("auth: set team: budgets must not be negative")
	}
	t.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO teams (name, daily_usd, monthly_usd, updated_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET daily_usd = excluded.daily_usd,
		monthly_usd = excluded.monthly_usd, updated_at = excluded.updated_at`),
		t.Name, t.DailyUSD, t.MonthlyUSD, t.UpdatedAt.UnixMilli())
	if err != nil {
		return Team{}, fmt.Errorf("auth: set team: %w", err)
	}
	s.forget()
	return t, nil
}

// Team returns one team's budget, or ErrTeamNotFound.
func (s *Store) Team(ctx context.Context, name string) (Team, error) {
	t := Team{Name: name}
	var updated int64
	err := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT daily_usd, monthly_usd, updated_at FROM teams WHERE name = ?`), name).
		Scan(&t.DailyUSD, &t.MonthlyUSD, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Team{}, ErrTeamNotFound
	}
	if err != nil {
		return Team{}, fmt.Errorf("auth: team: %w", err)
	}
	t.UpdatedAt = time.UnixMilli(updated).UTC()
	return t, nil
}

// Teams lists every team with a budget, by name.
func (s *Store) Teams(ctx context.Context) ([]Team, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, daily_usd, monthly_usd, updated_at FROM teams ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("auth: teams: %w", err)
	}
	defer rows.Close()
	var out []Team
	for rows.Next() {
		var t Team
		var updated int64
		if err := rows.Scan(&t.Name, &t.DailyUSD, &t.MonthlyUSD, &updated); err != nil {
			return nil, fmt.Errorf("auth: teams: %w", err)
		}
		t.UpdatedAt = time.UnixMilli(updated).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// SetKeyTeam moves a key to team ("" takes it out of any team). Its
// usage from now on rolls up to the new team.
func (s *Store) SetKeyTeam(ctx context.Context, id, team string) error {
	if team != "" && !ValidTeamName(team) {
		return errors.New("auth: set key team: invalid team name")
	}
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE api_keys SET team = ? WHERE id = ?`), team, id)
	if err != nil {
		return fmt.Errorf("auth: set key team: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrKeyNotFound
	}
	s.forget()
	return nil
}

// forget drops every cached lookup: a key's team or a team's budget
// changed.
func (s *Store) forget() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

// withTeam adds the key's team budget to id (none when the team has no
// row).
func (s *Store) withTeam(ctx context.Context, id Identity) (Identity, error) {
	if id.Team == "" {
		return id, nil
	}
	t, err := s.Team(ctx, id.Team)
	if errors.Is(err, ErrTeamNotFound) {
		return id, nil
	}
	if err != nil {
		return Identity{}, err
	}
	id.TeamDailyUSD, id.TeamMonthlyUSD = t.DailyUSD, t.MonthlyUSD
	return id, nil
}
