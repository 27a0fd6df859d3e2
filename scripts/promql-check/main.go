// Command promql-check runs Prometheus's own PromQL parser, rule-file validator and query
// engine on a dashboard, a rule file and recorded /metrics scrapes. It is the part of promtool
// that the project's tests need, without promtool's service-discovery SDKs (~1,100 packages,
// a quarter of an hour to build cold on two cores).
//
//	promql-check parse -dashboard FILE [-var name=value]...   every panel query parses
//	promql-check parse [-exprs FILE|-]                         a JSON list of {"name","expr"}
//	promql-check rules FILE...                                 rule files are valid (rulefmt)
//	promql-check eval [SPEC|-]                                 evaluate queries on scrapes
//
// Results are JSON on stdout; problems are one line each on stderr. Exit status: 0 all good,
// 1 a check failed (parse error, invalid rule, failed query), 2 bad usage or unreadable input.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

const usage = `usage:
  promql-check parse -dashboard FILE [-var name=value]...
  promql-check parse [-exprs FILE|-]          (JSON list of {"name": ..., "expr": ...})
  promql-check rules FILE...
  promql-check eval [SPEC|-]                  (see eval.go for the spec)
`

// promqlParser is the parser Prometheus uses by default (no experimental functions).
var promqlParser = parser.NewParser(parser.Options{})

// errCheckFailed marks a completed check that found problems (exit status 1).
var errCheckFailed = errors.New("check failed")

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "parse":
		err = cmdParse(args)
	case "rules":
		err = cmdRules(args)
	case "eval":
		err = cmdEval(args)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		err = fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	switch {
	case err == nil:
	case errors.Is(err, errCheckFailed):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "promql-check:", err)
		os.Exit(2)
	}
}

func writeJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	return enc.Encode(v)
}

func readInput(path string) ([]byte, error) {
	if path == "" || path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// varFlags collects repeated -var name=value flags.
type varFlags map[string]string

func (v varFlags) String() string { return fmt.Sprint(map[string]string(v)) }
func (v varFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("-var wants name=value, got %q", s)
	}
	v[strings.TrimPrefix(name, "$")] = value
	return nil
}

// ParseResult is one expression's outcome; Metrics lists the metric names it selects.
type ParseResult struct {
	Name    string   `json:"name"`
	Expr    string   `json:"expr"`
	Error   string   `json:"error,omitempty"`
	Metrics []string `json:"metrics,omitempty"`
}

func selectedMetrics(e parser.Expr) []string {
	seen := map[string]struct{}{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					seen[m.Value] = struct{}{}
				}
			}
		}
		return nil
	})
	return sortedKeys(seen)
}

func cmdParse(args []string) error {
	fs := flag.NewFlagSet("parse", flag.ContinueOnError)
	dashboard := fs.String("dashboard", "", "Grafana dashboard JSON whose panel queries to parse")
	exprsFile := fs.String("exprs", "-", `JSON list of {"name", "expr"} ("-": stdin)`)
	vars := varFlags{}
	fs.Var(vars, "var", "Grafana variable value, name=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var exprs []Expr
	var err error
	if *dashboard != "" {
		exprs, err = dashboardExprs(*dashboard, vars)
	} else {
		var raw []byte
		if raw, err = readInput(*exprsFile); err == nil {
			err = json.Unmarshal(raw, &exprs)
		}
	}
	if err != nil {
		return err
	}
	results := make([]ParseResult, len(exprs))
	failed := false
	for i, e := range exprs {
		results[i] = ParseResult{Name: e.Name, Expr: e.Expr}
		parsed, perr := promqlParser.ParseExpr(e.Expr)
		if perr != nil {
			failed = true
			results[i].Error = perr.Error()
			fmt.Fprintf(os.Stderr, "%q: %v\n  in: %s\n", e.Name, perr, e.Expr)
			continue
		}
		results[i].Metrics = selectedMetrics(parsed)
	}
	if err := writeJSON(map[string]any{"checked": len(results), "results": results}); err != nil {
		return err
	}
	if failed {
		return errCheckFailed
	}
	return nil
}

// RuleSummary is one rule as validated: alert or record name, expression and for.
type RuleSummary struct {
	Group  string `json:"group"`
	Alert  string `json:"alert,omitempty"`
	Record string `json:"record,omitempty"`
	Expr   string `json:"expr"`
	For    string `json:"for,omitempty"`
	// ForSeconds is For in seconds, so that callers need not parse Prometheus durations.
	ForSeconds float64 `json:"for_seconds"`
}

func cmdRules(args []string) error {
	if len(args) == 0 {
		return errors.New("rules: name at least one rule file")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var rules []RuleSummary
	var problems []string
	for _, file := range args {
		groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, promqlParser, logger)
		for _, e := range errs {
			problems = append(problems, e.Error())
			fmt.Fprintln(os.Stderr, e)
		}
		if groups == nil {
			continue
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				s := RuleSummary{Group: g.Name, Alert: r.Alert, Record: r.Record, Expr: r.Expr}
				if r.For != 0 {
					s.For = r.For.String()
					s.ForSeconds = time.Duration(r.For).Seconds()
				}
				rules = append(rules, s)
			}
		}
	}
	if len(problems) == 0 && len(rules) == 0 {
		problems = append(problems, "no rules found")
		fmt.Fprintln(os.Stderr, "no rules found in", strings.Join(args, ", "))
	}
	if err := writeJSON(map[string]any{"rules": rules, "errors": problems}); err != nil {
		return err
	}
	if len(problems) > 0 {
		return errCheckFailed
	}
	return nil
}
