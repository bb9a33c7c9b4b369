package admin

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/llm-connector/llm-connector/internal/auth"
	"github.com/llm-connector/llm-connector/internal/cost"
)

const cliHelp = `usage: llm-connector keys <command> [flags]

commands:
  create -user U [-team T] [-name N] [-models m1,m2] [-rpm N] [-tpm N] [-daily-usd X] [-monthly-usd Y]
  list   [-user U] [-json]
  revoke <key-id>
  usage  [-user U] [-key K] [-team T] [-from YYYY-MM-DD] [-to YYYY-MM-DD] [-group-by model|day|user|key|team] [-csv]
  set-team <key-id> <team>   move a key to a team ("" for none)
  team   -name T [-daily-usd X] [-monthly-usd Y]   set a team budget
  teams  list teams, their budgets and spend
`

// RunCLI runs the "keys" subcommand (args without "keys") against the
// same key store and ledger the service uses, for operators without curl.
// The plain key of "create" goes to stdout once; nothing else prints it.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer, d Deps) error {
	d.defaults()
	if len(args) == 0 {
		fmt.Fprint(stderr, cliHelp)
		return errors.New("keys: missing command")
	}
	switch args[0] {
	case "create":
		return cliCreate(ctx, args[1:], stdout, stderr, d)
	case "list":
		return cliList(ctx, args[1:], stdout, stderr, d)
	case "revoke":
		return cliRevoke(ctx, args[1:], stdout, stderr, d)
	case "usage":
		return cliUsage(ctx, args[1:], stdout, stderr, d)
	case "set-team":
		return cliSetTeam(ctx, args[1:], stdout, stderr, d)
	case "team":
		return cliTeam(ctx, args[1:], stdout, stderr, d)
	case "teams":
		return cliTeams(ctx, stdout, d)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, cliHelp)
		return nil
	}
	fmt.Fprint(stderr, cliHelp)
	return fmt.Errorf("keys: unknown command %q", args[0])
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("keys "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func cliCreate(ctx context.Context, args []string, stdout, stderr io.Writer, d Deps) error {
	if d.Keys == nil {
		return errors.New("keys create: no key store configured")
	}
	var spec auth.KeySpec
	var models string
	fs := newFlags("create", stderr)
	fs.StringVar(&spec.User, "user", "", "user the key belongs to (required)")
	fs.StringVar(&spec.Team, "team", "", "team")
	fs.StringVar(&spec.Name, "name", "", "a label")
	fs.StringVar(&models, "models", "", "comma-separated model allow-list (\"*\" wildcards); empty allows all")
	fs.IntVar(&spec.RPM, "rpm", 0, "requests per minute (0 = service default)")
	fs.IntVar(&spec.TPM, "tpm", 0, "tokens per minute (0 = service default)")
	fs.Float64Var(&spec.DailyUSD, "daily-usd", 0, "daily budget in USD (0 = none)")
	fs.Float64Var(&spec.MonthlyUSD, "monthly-usd", 0, "monthly budget in USD (0 = none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if spec.User == "" {
		return errors.New("keys create: -user is required")
	}
	for _, m := range strings.Split(models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			spec.Models = append(spec.Models, m)
		}
	}
	plain, k, err := d.Keys.Create(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "id:   %s\nuser: %s\nkey:  %s\n\nStore the key now: it is not shown again.\n", k.ID, k.User, plain)
	return nil
}

func cliList(ctx context.Context, args []string, stdout, stderr io.Writer, d Deps) error {
	if d.Keys == nil {
		return errors.New("keys list: no key store configured")
	}
	fs := newFlags("list", stderr)
	user := fs.String("user", "", "only this user's keys")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	keys, err := d.Keys.List(ctx, *user)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(nonNil(keys))
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPREFIX\tUSER\tTEAM\tMODELS\tDAILY$\tMONTHLY$\tSTATUS\tCREATED")
	for _, k := range keys {
		status := "active"
		if k.Revoked {
			status = "revoked"
		}
		fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%g\t%g\t%s\t%s\n", k.ID, k.Prefix, k.User, k.Team,
			cmpOr(strings.Join(k.Models, ","), "*"), k.DailyUSD, k.MonthlyUSD, status, k.CreatedAt.Format(time.DateOnly))
	}
	return tw.Flush()
}

func cliRevoke(ctx context.Context, args []string, stdout, _ io.Writer, d Deps) error {
	if d.Keys == nil {
		return errors.New("keys revoke: no key store configured")
	}
	if len(args) != 1 {
		return errors.New("keys revoke: want exactly one key id")
	}
	if err := d.Keys.Revoke(ctx, args[0]); err != nil {
		return fmt.Errorf("keys revoke %s: %w", args[0], err)
	}
	fmt.Fprintf(stdout, "revoked %s\n", args[0])
	return nil
}

func cliUsage(ctx context.Context, args []string, stdout, stderr io.Writer, d Deps) error {
	if d.Ledger == nil {
		return errors.New("keys usage: no ledger configured")
	}
	fs := newFlags("usage", stderr)
	user := fs.String("user", "", "only this user")
	key := fs.String("key", "", "only this key id")
	team := fs.String("team", "", "only this team (not with -user or -key)")
	from := fs.String("from", "", "first day, YYYY-MM-DD (default: 30 days ago)")
	to := fs.String("to", "", "last day, YYYY-MM-DD (default: today)")
	groupBy := fs.String("group-by", "model", "model, day, user, key, team, or a comma list")
	asCSV := fs.Bool("csv", false, "print CSV")
	if err := fs.Parse(args); err != nil {
		return err
	}
	q, err := parseRange(*from, *to, d.Now())
	if err != nil {
		return fmt.Errorf("keys usage: %w", err)
	}
	if q.GroupBy, err = cost.ParseDimensions(*groupBy); err != nil {
		return fmt.Errorf("keys usage: %w", err)
	}
	q.User, q.KeyID, q.Team = *user, *key, *team
	rows, err := d.Ledger.Usage(ctx, q)
	if err != nil {
		return err
	}
	if *asCSV {
		return encodeCSV(stdout, usageCSV(rows))
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tUSER\tKEY\tTEAM\tPROVIDER\tMODEL\tREQUESTS\tERRORS\tINPUT\tOUTPUT\tTHINKING\tCACHED\tCACHE_WRITE\tCACHE_WRITE_1H\tCOST_USD\tUNPRICED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.6f\t%d\n", r.Day, r.User, r.KeyID, r.Team,
			r.Provider, r.Model, r.Requests, r.Errors, r.InputTokens, r.OutputTokens, r.ThinkingTokens, r.CachedInputTokens,
			r.CacheWriteTokens, r.CacheWrite1hTokens, r.CostUSD, r.CostUnknown)
	}
	return tw.Flush()
}
