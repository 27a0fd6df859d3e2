package main

// Reading a Grafana dashboard's queries: every target of every panel, rows' nested panels
// included, with Grafana's variables replaced so that Prometheus's parser sees what Grafana
// would send.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

// Expr is one named PromQL expression (for a dashboard, the panel title and target refId).
type Expr struct {
	Name string `json:"name"`
	Expr string `json:"expr"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// grafanaDefaults are Grafana's built-in interval variables, given plausible values.
var grafanaDefaults = map[string]string{
	"__rate_interval": "5m", "__interval": "1m", "__range": "1h",
	"__interval_ms": "60000", "__range_s": "3600", "__range_ms": "3600000",
}

// variable matches $name, ${name}, ${name:format} and [[name]].
var variable = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// substitute replaces the variables it knows; unknown ones stay (inside a label value they
// still parse, elsewhere the parser reports them).
func substitute(expr string, vars map[string]string) string {
	return variable.ReplaceAllStringFunc(expr, func(m string) string {
		g := variable.FindStringSubmatch(m)
		for _, name := range g[1:] {
			if name == "" {
				continue
			}
			if v, ok := vars[name]; ok {
				return v
			}
			if v, ok := grafanaDefaults[name]; ok {
				return v
			}
		}
		return m
	})
}

func collect(panels []panel, vars map[string]string, out []Expr) []Expr {
	for _, p := range panels {
		for _, t := range p.Targets {
			if t.Expr == "" {
				continue
			}
			name := p.Title
			if t.RefID != "" {
				name += " [" + t.RefID + "]"
			}
			out = append(out, Expr{Name: name, Expr: substitute(t.Expr, vars)})
		}
		out = collect(p.Panels, vars, out)
	}
	return out
}

// dashboardExprs reads every query of the dashboard at path.
func dashboardExprs(path string, vars map[string]string) ([]Expr, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: not a Grafana dashboard JSON: %w", path, err)
	}
	exprs := collect(d.Panels, vars, nil)
	if len(exprs) == 0 {
		return nil, fmt.Errorf("%s: no panel has a PromQL target", path)
	}
	return exprs, nil
}
